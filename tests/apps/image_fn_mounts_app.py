"""`Image.run_function` with a volume and a network file system mounted during the build."""

import modal

app = modal.App("nodal-test-image-fn-mounts")
weights = modal.Volume.from_name("nodal-test-build-weights", create_if_missing=True)
shared = modal.NetworkFileSystem.from_name("nodal-test-build-shared", create_if_missing=True)


def download() -> None:
    import os

    with open("/weights/model.bin", "w") as f:  # into the volume: committed when the step ends
        f.write("weights v1")
    with open("/shared/log.txt", "w") as f:  # into the network file system: visible at once
        f.write("built")
    os.makedirs("/opt/marker", exist_ok=True)
    open("/opt/marker/done", "w").close()  # into the image layer


image = modal.Image.debian_slim().run_function(
    download, volumes={"/weights": weights}, network_file_systems={"/shared": shared}
)


@app.function(image=image, volumes={"/weights": weights})
def look() -> dict:
    import os

    return {
        "weights": open("/weights/model.bin").read(),
        "marker": os.path.exists("/opt/marker/done"),
        "weights_dir_in_layer": os.listdir("/weights"),
    }
