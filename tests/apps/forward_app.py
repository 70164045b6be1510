"""A function that serves TCP inside its container and exposes it with modal.forward."""

import socket
import threading

import modal

app = modal.App("nodal-test-forward")


def _serve(sock: socket.socket) -> None:
    while True:
        conn, _ = sock.accept()
        data = conn.recv(1024)
        conn.sendall(b"echo:" + data)
        conn.close()


@app.function()
def serve_and_forward(queue_name: str, unencrypted: bool) -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 8000))
    sock.listen(8)
    threading.Thread(target=_serve, args=(sock,), daemon=True).start()
    to_test = modal.Queue.from_name(queue_name, create_if_missing=True)
    with modal.forward(8000, unencrypted=unencrypted) as tunnel:
        address = tunnel.tcp_socket if unencrypted else tunnel.tls_socket
        to_test.put({"url": tunnel.url, "host": address[0], "port": address[1]}, partition="address")
        to_test.get(partition="done", timeout=60)  # the test is finished with the tunnel
    return "closed"
