"""Which RPCs each kind of caller may make.

Containers hold a credential scoped to their app and lifetime: they run functions, call other
functions, use dicts, queues, volumes and sandboxes, but never deploy or stop apps, change
named secrets, manage tokens, environments or other containers. Server-wide administration
needs an admin token of the default workspace (or the local socket's owner).
"""

from __future__ import annotations

from nodal.server.auth.identity import Identity

CONTAINER_RPCS = frozenset({
    "Hello", "WhoAmI", "GpuList",
    "WorkerStream", "BucketMountSync",
    "BlobHas", "BlobPut", "BlobGet",
    "FunctionGet", "FunctionBindParams", "FunctionGetStats",
    "CallStream", "CallSpawn", "CallGetOutputs", "CallGetOutputsMany", "CallCancel", "CallGraph",
    "DataObjectGetOrCreate", "DataObjectHeartbeat", "DataObjectList", "DataStream",
    "DictGet", "DictPut", "DictPop", "DictLen", "DictClear", "DictContents",
    "QueuePut", "QueueGet", "QueueLen", "QueueClear", "QueueNextItems",
    "VolumeGetManifest", "VolumeCommit", "VolumeReload",
    "NfsWriteFile", "NfsReadFile", "NfsListFiles", "NfsRemoveFile",
    "ImageGetOrCreate", "ImageJoin", "ImageFromId", "ImageLayers",
    "SecretCreate", "SecretLookup",
    "SandboxCreate", "SandboxGet", "SandboxWait", "SandboxTerminate", "SandboxList", "SandboxSetTags",
    "ProcessStream", "SandboxFs", "SandboxWatch", "SandboxSnapshotFs", "SandboxTunnels",
    "TunnelOpen", "TunnelClose", "WebInfo", "InteractStream",
})

SERVER_ADMIN_RPCS = frozenset({"SecretKeyRotate", "ImagePrune"})


def forbidden_reason(method: str, who: Identity) -> str:
    """Why `who` may not call `method` ("" when it may). Finer checks live in the RPCs."""
    if who.kind == "container":
        if method not in CONTAINER_RPCS:
            return (f"{method} is not allowed with a container's credential: deploy, stop and administer "
                    "apps from your own machine with your token")
        return ""
    if method in SERVER_ADMIN_RPCS and not who.server_admin:
        return f"{method} needs a server admin: use an admin token of the default workspace"
    return ""
