"""The HTTP gateway: serves every web endpoint of the running and deployed apps.

It lives in the server process (on its event loop) and reaches web containers
through unix sockets bound into them, never through host ports. See `server.py`.
"""

from nodal.server.gateway.server import Gateway

__all__ = ["Gateway"]
