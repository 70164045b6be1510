from nodal.server.main import main

main()
