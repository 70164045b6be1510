from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AppState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APP_STATE_UNSPECIFIED: _ClassVar[AppState]
    APP_STATE_EPHEMERAL: _ClassVar[AppState]
    APP_STATE_DETACHED: _ClassVar[AppState]
    APP_STATE_DEPLOYED: _ClassVar[AppState]
    APP_STATE_STOPPED: _ClassVar[AppState]

class ResultStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_STATUS_UNSPECIFIED: _ClassVar[ResultStatus]
    RESULT_STATUS_SUCCESS: _ClassVar[ResultStatus]
    RESULT_STATUS_FAILURE: _ClassVar[ResultStatus]
    RESULT_STATUS_TIMEOUT: _ClassVar[ResultStatus]
    RESULT_STATUS_TERMINATED: _ClassVar[ResultStatus]
    RESULT_STATUS_INIT_FAILURE: _ClassVar[ResultStatus]
    RESULT_STATUS_INTERNAL_FAILURE: _ClassVar[ResultStatus]

class DataObjectKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_OBJECT_KIND_UNSPECIFIED: _ClassVar[DataObjectKind]
    DATA_OBJECT_KIND_DICT: _ClassVar[DataObjectKind]
    DATA_OBJECT_KIND_QUEUE: _ClassVar[DataObjectKind]
    DATA_OBJECT_KIND_VOLUME: _ClassVar[DataObjectKind]
    DATA_OBJECT_KIND_NETWORK_FILE_SYSTEM: _ClassVar[DataObjectKind]

class ProcessStreamType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROCESS_STREAM_PIPE: _ClassVar[ProcessStreamType]
    PROCESS_STREAM_DEVNULL: _ClassVar[ProcessStreamType]
    PROCESS_STREAM_STDOUT: _ClassVar[ProcessStreamType]

class VolumeFsVersion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOLUME_FS_VERSION_UNSPECIFIED: _ClassVar[VolumeFsVersion]
    VOLUME_FS_VERSION_V1: _ClassVar[VolumeFsVersion]
    VOLUME_FS_VERSION_V2: _ClassVar[VolumeFsVersion]
APP_STATE_UNSPECIFIED: AppState
APP_STATE_EPHEMERAL: AppState
APP_STATE_DETACHED: AppState
APP_STATE_DEPLOYED: AppState
APP_STATE_STOPPED: AppState
RESULT_STATUS_UNSPECIFIED: ResultStatus
RESULT_STATUS_SUCCESS: ResultStatus
RESULT_STATUS_FAILURE: ResultStatus
RESULT_STATUS_TIMEOUT: ResultStatus
RESULT_STATUS_TERMINATED: ResultStatus
RESULT_STATUS_INIT_FAILURE: ResultStatus
RESULT_STATUS_INTERNAL_FAILURE: ResultStatus
DATA_OBJECT_KIND_UNSPECIFIED: DataObjectKind
DATA_OBJECT_KIND_DICT: DataObjectKind
DATA_OBJECT_KIND_QUEUE: DataObjectKind
DATA_OBJECT_KIND_VOLUME: DataObjectKind
DATA_OBJECT_KIND_NETWORK_FILE_SYSTEM: DataObjectKind
PROCESS_STREAM_PIPE: ProcessStreamType
PROCESS_STREAM_DEVNULL: ProcessStreamType
PROCESS_STREAM_STDOUT: ProcessStreamType
VOLUME_FS_VERSION_UNSPECIFIED: VolumeFsVersion
VOLUME_FS_VERSION_V1: VolumeFsVersion
VOLUME_FS_VERSION_V2: VolumeFsVersion

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HelloRequest(_message.Message):
    __slots__ = ("client_version",)
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    client_version: str
    def __init__(self, client_version: _Optional[str] = ...) -> None: ...

class HelloResponse(_message.Message):
    __slots__ = ("server_version", "pid", "streams_socket", "streams_tls_port")
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    STREAMS_SOCKET_FIELD_NUMBER: _ClassVar[int]
    STREAMS_TLS_PORT_FIELD_NUMBER: _ClassVar[int]
    server_version: str
    pid: int
    streams_socket: str
    streams_tls_port: int
    def __init__(self, server_version: _Optional[str] = ..., pid: _Optional[int] = ..., streams_socket: _Optional[str] = ..., streams_tls_port: _Optional[int] = ...) -> None: ...

class BlobHasRequest(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sha256: _Optional[_Iterable[str]] = ...) -> None: ...

class BlobHasResponse(_message.Message):
    __slots__ = ("missing",)
    MISSING_FIELD_NUMBER: _ClassVar[int]
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, missing: _Optional[_Iterable[str]] = ...) -> None: ...

class BlobPutRequest(_message.Message):
    __slots__ = ("data", "sha256")
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    sha256: str
    def __init__(self, data: _Optional[bytes] = ..., sha256: _Optional[str] = ...) -> None: ...

class BlobPutResponse(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    def __init__(self, sha256: _Optional[str] = ...) -> None: ...

class BlobGetRequest(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    def __init__(self, sha256: _Optional[str] = ...) -> None: ...

class BlobGetResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class AppCreateRequest(_message.Message):
    __slots__ = ("name", "description", "state", "environment_name", "tag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    state: AppState
    environment_name: str
    tag: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., state: _Optional[_Union[AppState, str]] = ..., environment_name: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class AppCreateResponse(_message.Message):
    __slots__ = ("app_id", "version")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    version: int
    def __init__(self, app_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class CodeFile(_message.Message):
    __slots__ = ("path", "sha256", "mode")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    path: str
    sha256: str
    mode: int
    def __init__(self, path: _Optional[str] = ..., sha256: _Optional[str] = ..., mode: _Optional[int] = ...) -> None: ...

class AppPublishRequest(_message.Message):
    __slots__ = ("app_id", "functions", "code_files")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    CODE_FILES_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    functions: _containers.RepeatedCompositeFieldContainer[FunctionDef]
    code_files: _containers.RepeatedCompositeFieldContainer[CodeFile]
    def __init__(self, app_id: _Optional[str] = ..., functions: _Optional[_Iterable[_Union[FunctionDef, _Mapping]]] = ..., code_files: _Optional[_Iterable[_Union[CodeFile, _Mapping]]] = ...) -> None: ...

class AppPublishResponse(_message.Message):
    __slots__ = ("function_ids",)
    class FunctionIdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FUNCTION_IDS_FIELD_NUMBER: _ClassVar[int]
    function_ids: _containers.ScalarMap[str, str]
    def __init__(self, function_ids: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AppHeartbeatRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class AppStopRequest(_message.Message):
    __slots__ = ("app_id", "name", "environment_name")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    name: str
    environment_name: str
    def __init__(self, app_id: _Optional[str] = ..., name: _Optional[str] = ..., environment_name: _Optional[str] = ...) -> None: ...

class AppLookupRequest(_message.Message):
    __slots__ = ("name", "environment_name", "create_if_missing")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_IF_MISSING_FIELD_NUMBER: _ClassVar[int]
    name: str
    environment_name: str
    create_if_missing: bool
    def __init__(self, name: _Optional[str] = ..., environment_name: _Optional[str] = ..., create_if_missing: _Optional[bool] = ...) -> None: ...

class AppLookupResponse(_message.Message):
    __slots__ = ("app_id", "function_ids")
    class FunctionIdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_IDS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    function_ids: _containers.ScalarMap[str, str]
    def __init__(self, app_id: _Optional[str] = ..., function_ids: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AppInfo(_message.Message):
    __slots__ = ("app_id", "name", "description", "state", "version", "created_at", "stopped_at", "n_running_containers", "tag")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STOPPED_AT_FIELD_NUMBER: _ClassVar[int]
    N_RUNNING_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    name: str
    description: str
    state: AppState
    version: int
    created_at: float
    stopped_at: float
    n_running_containers: int
    tag: str
    def __init__(self, app_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., state: _Optional[_Union[AppState, str]] = ..., version: _Optional[int] = ..., created_at: _Optional[float] = ..., stopped_at: _Optional[float] = ..., n_running_containers: _Optional[int] = ..., tag: _Optional[str] = ...) -> None: ...

class AppListRequest(_message.Message):
    __slots__ = ("environment_name",)
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    environment_name: str
    def __init__(self, environment_name: _Optional[str] = ...) -> None: ...

class AppListResponse(_message.Message):
    __slots__ = ("apps",)
    APPS_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.RepeatedCompositeFieldContainer[AppInfo]
    def __init__(self, apps: _Optional[_Iterable[_Union[AppInfo, _Mapping]]] = ...) -> None: ...

class AppHistoryRequest(_message.Message):
    __slots__ = ("name", "app_id", "environment_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    app_id: str
    environment_name: str
    def __init__(self, name: _Optional[str] = ..., app_id: _Optional[str] = ..., environment_name: _Optional[str] = ...) -> None: ...

class AppHistoryResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[AppInfo]
    def __init__(self, versions: _Optional[_Iterable[_Union[AppInfo, _Mapping]]] = ...) -> None: ...

class AppLogsRequest(_message.Message):
    __slots__ = ("app_id", "follow", "since")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    follow: bool
    since: float
    def __init__(self, app_id: _Optional[str] = ..., follow: _Optional[bool] = ..., since: _Optional[float] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("timestamp", "app_id", "function_name", "container_id", "stream", "data", "input_id")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    timestamp: float
    app_id: str
    function_name: str
    container_id: str
    stream: str
    data: str
    input_id: str
    def __init__(self, timestamp: _Optional[float] = ..., app_id: _Optional[str] = ..., function_name: _Optional[str] = ..., container_id: _Optional[str] = ..., stream: _Optional[str] = ..., data: _Optional[str] = ..., input_id: _Optional[str] = ...) -> None: ...

class ImageStep(_message.Message):
    __slots__ = ("kind", "spec_json", "force_build", "secret_ids", "volume_mounts", "nfs_mounts")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    FORCE_BUILD_FIELD_NUMBER: _ClassVar[int]
    SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
    VOLUME_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    NFS_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    spec_json: str
    force_build: bool
    secret_ids: _containers.RepeatedScalarFieldContainer[str]
    volume_mounts: _containers.RepeatedCompositeFieldContainer[VolumeMount]
    nfs_mounts: _containers.RepeatedCompositeFieldContainer[NfsMount]
    def __init__(self, kind: _Optional[str] = ..., spec_json: _Optional[str] = ..., force_build: _Optional[bool] = ..., secret_ids: _Optional[_Iterable[str]] = ..., volume_mounts: _Optional[_Iterable[_Union[VolumeMount, _Mapping]]] = ..., nfs_mounts: _Optional[_Iterable[_Union[NfsMount, _Mapping]]] = ...) -> None: ...

class ImageSpec(_message.Message):
    __slots__ = ("steps", "mounts")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[ImageStep]
    mounts: _containers.RepeatedCompositeFieldContainer[CodeFile]
    def __init__(self, steps: _Optional[_Iterable[_Union[ImageStep, _Mapping]]] = ..., mounts: _Optional[_Iterable[_Union[CodeFile, _Mapping]]] = ...) -> None: ...

class ImageGetOrCreateRequest(_message.Message):
    __slots__ = ("spec", "app_id")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    spec: ImageSpec
    app_id: str
    def __init__(self, spec: _Optional[_Union[ImageSpec, _Mapping]] = ..., app_id: _Optional[str] = ...) -> None: ...

class ImageGetOrCreateResponse(_message.Message):
    __slots__ = ("image_id", "built")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    BUILT_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    built: bool
    def __init__(self, image_id: _Optional[str] = ..., built: _Optional[bool] = ...) -> None: ...

class ImageJoinRequest(_message.Message):
    __slots__ = ("image_id", "timeout")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    timeout: float
    def __init__(self, image_id: _Optional[str] = ..., timeout: _Optional[float] = ...) -> None: ...

class ImageFromIdRequest(_message.Message):
    __slots__ = ("image_id",)
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    def __init__(self, image_id: _Optional[str] = ...) -> None: ...

class ImageFromIdResponse(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: ImageSpec
    def __init__(self, spec: _Optional[_Union[ImageSpec, _Mapping]] = ...) -> None: ...

class ImageLayersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ImageLayerInfo(_message.Message):
    __slots__ = ("layer_id", "kind", "size_bytes", "last_used", "in_use")
    LAYER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_FIELD_NUMBER: _ClassVar[int]
    IN_USE_FIELD_NUMBER: _ClassVar[int]
    layer_id: str
    kind: str
    size_bytes: int
    last_used: float
    in_use: bool
    def __init__(self, layer_id: _Optional[str] = ..., kind: _Optional[str] = ..., size_bytes: _Optional[int] = ..., last_used: _Optional[float] = ..., in_use: _Optional[bool] = ...) -> None: ...

class ImageLayersResponse(_message.Message):
    __slots__ = ("layers", "total_bytes")
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    layers: _containers.RepeatedCompositeFieldContainer[ImageLayerInfo]
    total_bytes: int
    def __init__(self, layers: _Optional[_Iterable[_Union[ImageLayerInfo, _Mapping]]] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class ImagePruneRequest(_message.Message):
    __slots__ = ("keep_seconds", "dry_run")
    KEEP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    keep_seconds: float
    dry_run: bool
    def __init__(self, keep_seconds: _Optional[float] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ImagePruneResponse(_message.Message):
    __slots__ = ("removed", "freed_bytes", "kept_bytes")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    FREED_BYTES_FIELD_NUMBER: _ClassVar[int]
    KEPT_BYTES_FIELD_NUMBER: _ClassVar[int]
    removed: _containers.RepeatedScalarFieldContainer[str]
    freed_bytes: int
    kept_bytes: int
    def __init__(self, removed: _Optional[_Iterable[str]] = ..., freed_bytes: _Optional[int] = ..., kept_bytes: _Optional[int] = ...) -> None: ...

class ImageBuildEvent(_message.Message):
    __slots__ = ("log", "done", "success", "error")
    LOG_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    log: str
    done: bool
    success: bool
    error: str
    def __init__(self, log: _Optional[str] = ..., done: _Optional[bool] = ..., success: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class SecretCreateRequest(_message.Message):
    __slots__ = ("env", "app_id")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ENV_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    env: _containers.ScalarMap[str, str]
    app_id: str
    def __init__(self, env: _Optional[_Mapping[str, str]] = ..., app_id: _Optional[str] = ...) -> None: ...

class SecretCreateResponse(_message.Message):
    __slots__ = ("secret_id",)
    SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    secret_id: str
    def __init__(self, secret_id: _Optional[str] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("max_retries", "backoff_coefficient", "initial_delay", "max_delay")
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_COEFFICIENT_FIELD_NUMBER: _ClassVar[int]
    INITIAL_DELAY_FIELD_NUMBER: _ClassVar[int]
    MAX_DELAY_FIELD_NUMBER: _ClassVar[int]
    max_retries: int
    backoff_coefficient: float
    initial_delay: float
    max_delay: float
    def __init__(self, max_retries: _Optional[int] = ..., backoff_coefficient: _Optional[float] = ..., initial_delay: _Optional[float] = ..., max_delay: _Optional[float] = ...) -> None: ...

class FunctionDef(_message.Message):
    __slots__ = ("tag", "module_name", "qualname", "serialized", "is_class", "is_generator", "is_async", "image_id", "secret_ids", "timeout", "retries", "cpu", "cpu_limit", "memory_mb", "memory_limit_mb", "min_containers", "max_containers", "buffer_containers", "scaledown_window", "max_inputs", "max_concurrent_inputs", "target_concurrent_inputs", "batch_max_size", "batch_wait_ms", "block_network", "env", "method_names", "generator_methods", "startup_timeout", "enable_memory_snapshot", "gpu", "schedule_json", "webhook", "volume_mounts", "web_endpoints", "nfs_mounts", "bucket_mounts")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TAG_FIELD_NUMBER: _ClassVar[int]
    MODULE_NAME_FIELD_NUMBER: _ClassVar[int]
    QUALNAME_FIELD_NUMBER: _ClassVar[int]
    SERIALIZED_FIELD_NUMBER: _ClassVar[int]
    IS_CLASS_FIELD_NUMBER: _ClassVar[int]
    IS_GENERATOR_FIELD_NUMBER: _ClassVar[int]
    IS_ASYNC_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    CPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_MB_FIELD_NUMBER: _ClassVar[int]
    MIN_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    BUFFER_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    SCALEDOWN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUTS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_INPUTS_FIELD_NUMBER: _ClassVar[int]
    TARGET_CONCURRENT_INPUTS_FIELD_NUMBER: _ClassVar[int]
    BATCH_MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    BATCH_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NETWORK_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    METHOD_NAMES_FIELD_NUMBER: _ClassVar[int]
    GENERATOR_METHODS_FIELD_NUMBER: _ClassVar[int]
    STARTUP_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    ENABLE_MEMORY_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_JSON_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    VOLUME_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    WEB_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    NFS_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    BUCKET_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    tag: str
    module_name: str
    qualname: str
    serialized: bytes
    is_class: bool
    is_generator: bool
    is_async: bool
    image_id: str
    secret_ids: _containers.RepeatedScalarFieldContainer[str]
    timeout: float
    retries: RetryPolicy
    cpu: float
    cpu_limit: float
    memory_mb: int
    memory_limit_mb: int
    min_containers: int
    max_containers: int
    buffer_containers: int
    scaledown_window: float
    max_inputs: int
    max_concurrent_inputs: int
    target_concurrent_inputs: int
    batch_max_size: int
    batch_wait_ms: int
    block_network: bool
    env: _containers.ScalarMap[str, str]
    method_names: _containers.RepeatedScalarFieldContainer[str]
    generator_methods: _containers.RepeatedScalarFieldContainer[str]
    startup_timeout: float
    enable_memory_snapshot: bool
    gpu: str
    schedule_json: str
    webhook: bool
    volume_mounts: _containers.RepeatedCompositeFieldContainer[VolumeMount]
    web_endpoints: _containers.RepeatedCompositeFieldContainer[WebEndpoint]
    nfs_mounts: _containers.RepeatedCompositeFieldContainer[NfsMount]
    bucket_mounts: _containers.RepeatedCompositeFieldContainer[BucketMount]
    def __init__(self, tag: _Optional[str] = ..., module_name: _Optional[str] = ..., qualname: _Optional[str] = ..., serialized: _Optional[bytes] = ..., is_class: _Optional[bool] = ..., is_generator: _Optional[bool] = ..., is_async: _Optional[bool] = ..., image_id: _Optional[str] = ..., secret_ids: _Optional[_Iterable[str]] = ..., timeout: _Optional[float] = ..., retries: _Optional[_Union[RetryPolicy, _Mapping]] = ..., cpu: _Optional[float] = ..., cpu_limit: _Optional[float] = ..., memory_mb: _Optional[int] = ..., memory_limit_mb: _Optional[int] = ..., min_containers: _Optional[int] = ..., max_containers: _Optional[int] = ..., buffer_containers: _Optional[int] = ..., scaledown_window: _Optional[float] = ..., max_inputs: _Optional[int] = ..., max_concurrent_inputs: _Optional[int] = ..., target_concurrent_inputs: _Optional[int] = ..., batch_max_size: _Optional[int] = ..., batch_wait_ms: _Optional[int] = ..., block_network: _Optional[bool] = ..., env: _Optional[_Mapping[str, str]] = ..., method_names: _Optional[_Iterable[str]] = ..., generator_methods: _Optional[_Iterable[str]] = ..., startup_timeout: _Optional[float] = ..., enable_memory_snapshot: _Optional[bool] = ..., gpu: _Optional[str] = ..., schedule_json: _Optional[str] = ..., webhook: _Optional[bool] = ..., volume_mounts: _Optional[_Iterable[_Union[VolumeMount, _Mapping]]] = ..., web_endpoints: _Optional[_Iterable[_Union[WebEndpoint, _Mapping]]] = ..., nfs_mounts: _Optional[_Iterable[_Union[NfsMount, _Mapping]]] = ..., bucket_mounts: _Optional[_Iterable[_Union[BucketMount, _Mapping]]] = ...) -> None: ...

class FunctionGetRequest(_message.Message):
    __slots__ = ("app_name", "tag", "environment_name")
    APP_NAME_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    app_name: str
    tag: str
    environment_name: str
    def __init__(self, app_name: _Optional[str] = ..., tag: _Optional[str] = ..., environment_name: _Optional[str] = ...) -> None: ...

class FunctionGetResponse(_message.Message):
    __slots__ = ("function_id", "definition")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    definition: FunctionDef
    def __init__(self, function_id: _Optional[str] = ..., definition: _Optional[_Union[FunctionDef, _Mapping]] = ...) -> None: ...

class FunctionBindParamsRequest(_message.Message):
    __slots__ = ("function_id", "serialized_params", "overrides")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    SERIALIZED_PARAMS_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    serialized_params: bytes
    overrides: FunctionOverrides
    def __init__(self, function_id: _Optional[str] = ..., serialized_params: _Optional[bytes] = ..., overrides: _Optional[_Union[FunctionOverrides, _Mapping]] = ...) -> None: ...

class FunctionOverrides(_message.Message):
    __slots__ = ("cpu", "memory", "gpu", "secrets", "env", "retries", "timeout", "min_containers", "max_containers", "buffer_containers", "scaledown_window", "concurrency", "batching", "volumes")
    class Cpu(_message.Message):
        __slots__ = ("cpu", "cpu_limit")
        CPU_FIELD_NUMBER: _ClassVar[int]
        CPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
        cpu: float
        cpu_limit: float
        def __init__(self, cpu: _Optional[float] = ..., cpu_limit: _Optional[float] = ...) -> None: ...
    class Memory(_message.Message):
        __slots__ = ("memory_mb", "memory_limit_mb")
        MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
        MEMORY_LIMIT_MB_FIELD_NUMBER: _ClassVar[int]
        memory_mb: int
        memory_limit_mb: int
        def __init__(self, memory_mb: _Optional[int] = ..., memory_limit_mb: _Optional[int] = ...) -> None: ...
    class Secrets(_message.Message):
        __slots__ = ("secret_ids",)
        SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
        secret_ids: _containers.RepeatedScalarFieldContainer[str]
        def __init__(self, secret_ids: _Optional[_Iterable[str]] = ...) -> None: ...
    class Concurrency(_message.Message):
        __slots__ = ("max_inputs", "target_inputs")
        MAX_INPUTS_FIELD_NUMBER: _ClassVar[int]
        TARGET_INPUTS_FIELD_NUMBER: _ClassVar[int]
        max_inputs: int
        target_inputs: int
        def __init__(self, max_inputs: _Optional[int] = ..., target_inputs: _Optional[int] = ...) -> None: ...
    class Batching(_message.Message):
        __slots__ = ("max_batch_size", "wait_ms")
        MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
        WAIT_MS_FIELD_NUMBER: _ClassVar[int]
        max_batch_size: int
        wait_ms: int
        def __init__(self, max_batch_size: _Optional[int] = ..., wait_ms: _Optional[int] = ...) -> None: ...
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class Volumes(_message.Message):
        __slots__ = ("volume_mounts", "bucket_mounts")
        VOLUME_MOUNTS_FIELD_NUMBER: _ClassVar[int]
        BUCKET_MOUNTS_FIELD_NUMBER: _ClassVar[int]
        volume_mounts: _containers.RepeatedCompositeFieldContainer[VolumeMount]
        bucket_mounts: _containers.RepeatedCompositeFieldContainer[BucketMount]
        def __init__(self, volume_mounts: _Optional[_Iterable[_Union[VolumeMount, _Mapping]]] = ..., bucket_mounts: _Optional[_Iterable[_Union[BucketMount, _Mapping]]] = ...) -> None: ...
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MIN_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    BUFFER_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    SCALEDOWN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    BATCHING_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    cpu: FunctionOverrides.Cpu
    memory: FunctionOverrides.Memory
    gpu: str
    secrets: FunctionOverrides.Secrets
    env: _containers.ScalarMap[str, str]
    retries: RetryPolicy
    timeout: float
    min_containers: int
    max_containers: int
    buffer_containers: int
    scaledown_window: float
    concurrency: FunctionOverrides.Concurrency
    batching: FunctionOverrides.Batching
    volumes: FunctionOverrides.Volumes
    def __init__(self, cpu: _Optional[_Union[FunctionOverrides.Cpu, _Mapping]] = ..., memory: _Optional[_Union[FunctionOverrides.Memory, _Mapping]] = ..., gpu: _Optional[str] = ..., secrets: _Optional[_Union[FunctionOverrides.Secrets, _Mapping]] = ..., env: _Optional[_Mapping[str, str]] = ..., retries: _Optional[_Union[RetryPolicy, _Mapping]] = ..., timeout: _Optional[float] = ..., min_containers: _Optional[int] = ..., max_containers: _Optional[int] = ..., buffer_containers: _Optional[int] = ..., scaledown_window: _Optional[float] = ..., concurrency: _Optional[_Union[FunctionOverrides.Concurrency, _Mapping]] = ..., batching: _Optional[_Union[FunctionOverrides.Batching, _Mapping]] = ..., volumes: _Optional[_Union[FunctionOverrides.Volumes, _Mapping]] = ...) -> None: ...

class FunctionBindParamsResponse(_message.Message):
    __slots__ = ("bound_function_id",)
    BOUND_FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    bound_function_id: str
    def __init__(self, bound_function_id: _Optional[str] = ...) -> None: ...

class FunctionGetStatsRequest(_message.Message):
    __slots__ = ("function_id",)
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    def __init__(self, function_id: _Optional[str] = ...) -> None: ...

class FunctionStats(_message.Message):
    __slots__ = ("backlog", "num_total_runners", "num_active_runners")
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    NUM_TOTAL_RUNNERS_FIELD_NUMBER: _ClassVar[int]
    NUM_ACTIVE_RUNNERS_FIELD_NUMBER: _ClassVar[int]
    backlog: int
    num_total_runners: int
    num_active_runners: int
    def __init__(self, backlog: _Optional[int] = ..., num_total_runners: _Optional[int] = ..., num_active_runners: _Optional[int] = ...) -> None: ...

class FunctionUpdateScalingRequest(_message.Message):
    __slots__ = ("function_id", "has_min_containers", "min_containers", "has_max_containers", "max_containers", "has_buffer_containers", "buffer_containers", "has_scaledown_window", "scaledown_window")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    HAS_MIN_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    MIN_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    HAS_MAX_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    HAS_BUFFER_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    BUFFER_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    HAS_SCALEDOWN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    SCALEDOWN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    has_min_containers: bool
    min_containers: int
    has_max_containers: bool
    max_containers: int
    has_buffer_containers: bool
    buffer_containers: int
    has_scaledown_window: bool
    scaledown_window: float
    def __init__(self, function_id: _Optional[str] = ..., has_min_containers: _Optional[bool] = ..., min_containers: _Optional[int] = ..., has_max_containers: _Optional[bool] = ..., max_containers: _Optional[int] = ..., has_buffer_containers: _Optional[bool] = ..., buffer_containers: _Optional[int] = ..., has_scaledown_window: _Optional[bool] = ..., scaledown_window: _Optional[float] = ...) -> None: ...

class Payload(_message.Message):
    __slots__ = ("data", "blob")
    DATA_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    blob: str
    def __init__(self, data: _Optional[bytes] = ..., blob: _Optional[str] = ...) -> None: ...

class Input(_message.Message):
    __slots__ = ("idx", "args", "method_name")
    IDX_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    METHOD_NAME_FIELD_NUMBER: _ClassVar[int]
    idx: int
    args: Payload
    method_name: str
    def __init__(self, idx: _Optional[int] = ..., args: _Optional[_Union[Payload, _Mapping]] = ..., method_name: _Optional[str] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("status", "data", "exception", "traceback", "gen_index", "gen_item", "gen_done", "gen_count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    GEN_INDEX_FIELD_NUMBER: _ClassVar[int]
    GEN_ITEM_FIELD_NUMBER: _ClassVar[int]
    GEN_DONE_FIELD_NUMBER: _ClassVar[int]
    GEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    status: ResultStatus
    data: Payload
    exception: str
    traceback: str
    gen_index: int
    gen_item: bool
    gen_done: bool
    gen_count: int
    def __init__(self, status: _Optional[_Union[ResultStatus, str]] = ..., data: _Optional[_Union[Payload, _Mapping]] = ..., exception: _Optional[str] = ..., traceback: _Optional[str] = ..., gen_index: _Optional[int] = ..., gen_item: _Optional[bool] = ..., gen_done: _Optional[bool] = ..., gen_count: _Optional[int] = ...) -> None: ...

class Output(_message.Message):
    __slots__ = ("call_id", "idx", "result", "input_id")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    IDX_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    idx: int
    result: Result
    input_id: str
    def __init__(self, call_id: _Optional[str] = ..., idx: _Optional[int] = ..., result: _Optional[_Union[Result, _Mapping]] = ..., input_id: _Optional[str] = ...) -> None: ...

class CallStreamRequest(_message.Message):
    __slots__ = ("put", "cancel")
    PUT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    put: CallPutInputs
    cancel: CallCancelRequest
    def __init__(self, put: _Optional[_Union[CallPutInputs, _Mapping]] = ..., cancel: _Optional[_Union[CallCancelRequest, _Mapping]] = ...) -> None: ...

class CallPutInputs(_message.Message):
    __slots__ = ("call_id", "function_id", "inputs", "last", "parent_input_id", "return_exceptions")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    PARENT_INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    RETURN_EXCEPTIONS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    function_id: str
    inputs: _containers.RepeatedCompositeFieldContainer[Input]
    last: bool
    parent_input_id: str
    return_exceptions: bool
    def __init__(self, call_id: _Optional[str] = ..., function_id: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[Input, _Mapping]]] = ..., last: _Optional[bool] = ..., parent_input_id: _Optional[str] = ..., return_exceptions: _Optional[bool] = ...) -> None: ...

class CallStreamResponse(_message.Message):
    __slots__ = ("outputs", "error_call_id", "error", "error_kind")
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[Output]
    error_call_id: str
    error: str
    error_kind: str
    def __init__(self, outputs: _Optional[_Iterable[_Union[Output, _Mapping]]] = ..., error_call_id: _Optional[str] = ..., error: _Optional[str] = ..., error_kind: _Optional[str] = ...) -> None: ...

class CallSpawnRequest(_message.Message):
    __slots__ = ("function_id", "input", "parent_input_id", "inputs")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    PARENT_INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    input: Input
    parent_input_id: str
    inputs: _containers.RepeatedCompositeFieldContainer[Input]
    def __init__(self, function_id: _Optional[str] = ..., input: _Optional[_Union[Input, _Mapping]] = ..., parent_input_id: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[Input, _Mapping]]] = ...) -> None: ...

class CallSpawnResponse(_message.Message):
    __slots__ = ("call_id", "call_ids")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    call_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, call_id: _Optional[str] = ..., call_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CallGetOutputsManyRequest(_message.Message):
    __slots__ = ("call_ids", "timeout")
    CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    call_ids: _containers.RepeatedScalarFieldContainer[str]
    timeout: float
    def __init__(self, call_ids: _Optional[_Iterable[str]] = ..., timeout: _Optional[float] = ...) -> None: ...

class CallGetOutputsManyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CallGetOutputsResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[CallGetOutputsResponse, _Mapping]]] = ...) -> None: ...

class CallGetOutputsRequest(_message.Message):
    __slots__ = ("call_id", "timeout", "start_gen_index")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    START_GEN_INDEX_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    timeout: float
    start_gen_index: int
    def __init__(self, call_id: _Optional[str] = ..., timeout: _Optional[float] = ..., start_gen_index: _Optional[int] = ...) -> None: ...

class CallGetOutputsResponse(_message.Message):
    __slots__ = ("outputs", "done", "found")
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[Output]
    done: bool
    found: bool
    def __init__(self, outputs: _Optional[_Iterable[_Union[Output, _Mapping]]] = ..., done: _Optional[bool] = ..., found: _Optional[bool] = ...) -> None: ...

class CallCancelRequest(_message.Message):
    __slots__ = ("call_id", "terminate_containers")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINATE_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    terminate_containers: bool
    def __init__(self, call_id: _Optional[str] = ..., terminate_containers: _Optional[bool] = ...) -> None: ...

class CallGraphRequest(_message.Message):
    __slots__ = ("call_id",)
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    def __init__(self, call_id: _Optional[str] = ...) -> None: ...

class CallGraphNode(_message.Message):
    __slots__ = ("input_id", "call_id", "function_name", "task_id", "status", "parent_input_id")
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PARENT_INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    input_id: str
    call_id: str
    function_name: str
    task_id: str
    status: int
    parent_input_id: str
    def __init__(self, input_id: _Optional[str] = ..., call_id: _Optional[str] = ..., function_name: _Optional[str] = ..., task_id: _Optional[str] = ..., status: _Optional[int] = ..., parent_input_id: _Optional[str] = ...) -> None: ...

class CallGraphResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[CallGraphNode]
    def __init__(self, nodes: _Optional[_Iterable[_Union[CallGraphNode, _Mapping]]] = ...) -> None: ...

class WorkerMessage(_message.Message):
    __slots__ = ("hello", "ready", "outputs", "init_failed", "snapshotted")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    INIT_FAILED_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTTED_FIELD_NUMBER: _ClassVar[int]
    hello: WorkerHello
    ready: WorkerReady
    outputs: WorkerOutputs
    init_failed: WorkerInitFailed
    snapshotted: WorkerSnapshotted
    def __init__(self, hello: _Optional[_Union[WorkerHello, _Mapping]] = ..., ready: _Optional[_Union[WorkerReady, _Mapping]] = ..., outputs: _Optional[_Union[WorkerOutputs, _Mapping]] = ..., init_failed: _Optional[_Union[WorkerInitFailed, _Mapping]] = ..., snapshotted: _Optional[_Union[WorkerSnapshotted, _Mapping]] = ...) -> None: ...

class WorkerHello(_message.Message):
    __slots__ = ("container_id", "token")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    token: str
    def __init__(self, container_id: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class WorkerReady(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerOutputs(_message.Message):
    __slots__ = ("outputs",)
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[Output]
    def __init__(self, outputs: _Optional[_Iterable[_Union[Output, _Mapping]]] = ...) -> None: ...

class WorkerInitFailed(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: Result
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ...) -> None: ...

class WorkerSnapshotted(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerInput(_message.Message):
    __slots__ = ("input_id", "call_id", "input", "is_generator")
    INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    IS_GENERATOR_FIELD_NUMBER: _ClassVar[int]
    input_id: str
    call_id: str
    input: Input
    is_generator: bool
    def __init__(self, input_id: _Optional[str] = ..., call_id: _Optional[str] = ..., input: _Optional[_Union[Input, _Mapping]] = ..., is_generator: _Optional[bool] = ...) -> None: ...

class ContainerInit(_message.Message):
    __slots__ = ("container_id", "app_id", "function_id", "definition", "serialized_params", "app_function_ids", "env", "files", "snapshot")
    class AppFunctionIdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    SERIALIZED_PARAMS_FIELD_NUMBER: _ClassVar[int]
    APP_FUNCTION_IDS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    app_id: str
    function_id: str
    definition: FunctionDef
    serialized_params: bytes
    app_function_ids: _containers.ScalarMap[str, str]
    env: _containers.ScalarMap[str, str]
    files: _containers.RepeatedCompositeFieldContainer[ContainerFile]
    snapshot: bool
    def __init__(self, container_id: _Optional[str] = ..., app_id: _Optional[str] = ..., function_id: _Optional[str] = ..., definition: _Optional[_Union[FunctionDef, _Mapping]] = ..., serialized_params: _Optional[bytes] = ..., app_function_ids: _Optional[_Mapping[str, str]] = ..., env: _Optional[_Mapping[str, str]] = ..., files: _Optional[_Iterable[_Union[ContainerFile, _Mapping]]] = ..., snapshot: _Optional[bool] = ...) -> None: ...

class ContainerFile(_message.Message):
    __slots__ = ("path", "mode", "data")
    PATH_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    path: str
    mode: int
    data: bytes
    def __init__(self, path: _Optional[str] = ..., mode: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class WorkerDirective(_message.Message):
    __slots__ = ("init", "inputs", "cancel_input_id", "shutdown", "restore")
    INIT_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    CANCEL_INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_FIELD_NUMBER: _ClassVar[int]
    RESTORE_FIELD_NUMBER: _ClassVar[int]
    init: ContainerInit
    inputs: WorkerInputs
    cancel_input_id: str
    shutdown: bool
    restore: bool
    def __init__(self, init: _Optional[_Union[ContainerInit, _Mapping]] = ..., inputs: _Optional[_Union[WorkerInputs, _Mapping]] = ..., cancel_input_id: _Optional[str] = ..., shutdown: _Optional[bool] = ..., restore: _Optional[bool] = ...) -> None: ...

class WorkerInputs(_message.Message):
    __slots__ = ("inputs",)
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedCompositeFieldContainer[WorkerInput]
    def __init__(self, inputs: _Optional[_Iterable[_Union[WorkerInput, _Mapping]]] = ...) -> None: ...

class DataObjectGetOrCreateRequest(_message.Message):
    __slots__ = ("kind", "name", "environment_name", "create_if_missing", "ephemeral", "app_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_IF_MISSING_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    kind: DataObjectKind
    name: str
    environment_name: str
    create_if_missing: bool
    ephemeral: bool
    app_id: str
    def __init__(self, kind: _Optional[_Union[DataObjectKind, str]] = ..., name: _Optional[str] = ..., environment_name: _Optional[str] = ..., create_if_missing: _Optional[bool] = ..., ephemeral: _Optional[bool] = ..., app_id: _Optional[str] = ...) -> None: ...

class DataObjectGetOrCreateResponse(_message.Message):
    __slots__ = ("object_id",)
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    def __init__(self, object_id: _Optional[str] = ...) -> None: ...

class DataObjectDeleteRequest(_message.Message):
    __slots__ = ("kind", "name", "environment_name", "object_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    kind: DataObjectKind
    name: str
    environment_name: str
    object_id: str
    def __init__(self, kind: _Optional[_Union[DataObjectKind, str]] = ..., name: _Optional[str] = ..., environment_name: _Optional[str] = ..., object_id: _Optional[str] = ...) -> None: ...

class DataObjectHeartbeatRequest(_message.Message):
    __slots__ = ("object_id",)
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    def __init__(self, object_id: _Optional[str] = ...) -> None: ...

class DataCountResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class DictEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class DictGetRequest(_message.Message):
    __slots__ = ("dict_id", "key", "want_value")
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    WANT_VALUE_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    key: bytes
    want_value: bool
    def __init__(self, dict_id: _Optional[str] = ..., key: _Optional[bytes] = ..., want_value: _Optional[bool] = ...) -> None: ...

class DictGetResponse(_message.Message):
    __slots__ = ("found", "value")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    found: bool
    value: bytes
    def __init__(self, found: _Optional[bool] = ..., value: _Optional[bytes] = ...) -> None: ...

class DictPutRequest(_message.Message):
    __slots__ = ("dict_id", "entries", "skip_if_exists")
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    SKIP_IF_EXISTS_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    entries: _containers.RepeatedCompositeFieldContainer[DictEntry]
    skip_if_exists: bool
    def __init__(self, dict_id: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[DictEntry, _Mapping]]] = ..., skip_if_exists: _Optional[bool] = ...) -> None: ...

class DictPutResponse(_message.Message):
    __slots__ = ("created",)
    CREATED_FIELD_NUMBER: _ClassVar[int]
    created: bool
    def __init__(self, created: _Optional[bool] = ...) -> None: ...

class DictPopRequest(_message.Message):
    __slots__ = ("dict_id", "key")
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    key: bytes
    def __init__(self, dict_id: _Optional[str] = ..., key: _Optional[bytes] = ...) -> None: ...

class DictLenRequest(_message.Message):
    __slots__ = ("dict_id",)
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    def __init__(self, dict_id: _Optional[str] = ...) -> None: ...

class DictClearRequest(_message.Message):
    __slots__ = ("dict_id",)
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    def __init__(self, dict_id: _Optional[str] = ...) -> None: ...

class DictContentsRequest(_message.Message):
    __slots__ = ("dict_id",)
    DICT_ID_FIELD_NUMBER: _ClassVar[int]
    dict_id: str
    def __init__(self, dict_id: _Optional[str] = ...) -> None: ...

class DictContentsResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[DictEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[DictEntry, _Mapping]]] = ...) -> None: ...

class QueuePutRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "values", "partition_ttl", "timeout")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    PARTITION_TTL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: bytes
    values: _containers.RepeatedScalarFieldContainer[bytes]
    partition_ttl: int
    timeout: float
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[bytes] = ..., values: _Optional[_Iterable[bytes]] = ..., partition_ttl: _Optional[int] = ..., timeout: _Optional[float] = ...) -> None: ...

class QueuePutResponse(_message.Message):
    __slots__ = ("full",)
    FULL_FIELD_NUMBER: _ClassVar[int]
    full: bool
    def __init__(self, full: _Optional[bool] = ...) -> None: ...

class QueueGetRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "n_values", "timeout")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    N_VALUES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: bytes
    n_values: int
    timeout: float
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[bytes] = ..., n_values: _Optional[int] = ..., timeout: _Optional[float] = ...) -> None: ...

class QueueGetResponse(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, values: _Optional[_Iterable[bytes]] = ...) -> None: ...

class QueueLenRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "total")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: bytes
    total: bool
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[bytes] = ..., total: _Optional[bool] = ...) -> None: ...

class QueueClearRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "all_partitions")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    ALL_PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: bytes
    all_partitions: bool
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[bytes] = ..., all_partitions: _Optional[bool] = ...) -> None: ...

class QueueNextItemsRequest(_message.Message):
    __slots__ = ("queue_id", "partition", "after_item_id", "timeout")
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    AFTER_ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    partition: bytes
    after_item_id: int
    timeout: float
    def __init__(self, queue_id: _Optional[str] = ..., partition: _Optional[bytes] = ..., after_item_id: _Optional[int] = ..., timeout: _Optional[float] = ...) -> None: ...

class QueueItem(_message.Message):
    __slots__ = ("item_id", "value")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    item_id: int
    value: bytes
    def __init__(self, item_id: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...

class QueueNextItemsResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[QueueItem]
    def __init__(self, items: _Optional[_Iterable[_Union[QueueItem, _Mapping]]] = ...) -> None: ...

class SecretNamedCreateRequest(_message.Message):
    __slots__ = ("name", "environment_name", "env", "force")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    environment_name: str
    env: _containers.ScalarMap[str, str]
    force: bool
    def __init__(self, name: _Optional[str] = ..., environment_name: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., force: _Optional[bool] = ...) -> None: ...

class SecretNamedCreateResponse(_message.Message):
    __slots__ = ("secret_id", "overwritten")
    SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    OVERWRITTEN_FIELD_NUMBER: _ClassVar[int]
    secret_id: str
    overwritten: bool
    def __init__(self, secret_id: _Optional[str] = ..., overwritten: _Optional[bool] = ...) -> None: ...

class SecretLookupRequest(_message.Message):
    __slots__ = ("name", "environment_name", "required_keys")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_KEYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    environment_name: str
    required_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., environment_name: _Optional[str] = ..., required_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class SecretLookupResponse(_message.Message):
    __slots__ = ("secret_id",)
    SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    secret_id: str
    def __init__(self, secret_id: _Optional[str] = ...) -> None: ...

class SecretListRequest(_message.Message):
    __slots__ = ("environment_name",)
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    environment_name: str
    def __init__(self, environment_name: _Optional[str] = ...) -> None: ...

class SecretInfo(_message.Message):
    __slots__ = ("name", "environment_name", "created_at", "updated_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    environment_name: str
    created_at: float
    updated_at: float
    def __init__(self, name: _Optional[str] = ..., environment_name: _Optional[str] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ...) -> None: ...

class SecretListResponse(_message.Message):
    __slots__ = ("secrets",)
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    secrets: _containers.RepeatedCompositeFieldContainer[SecretInfo]
    def __init__(self, secrets: _Optional[_Iterable[_Union[SecretInfo, _Mapping]]] = ...) -> None: ...

class SecretDeleteRequest(_message.Message):
    __slots__ = ("name", "environment_name", "allow_missing")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MISSING_FIELD_NUMBER: _ClassVar[int]
    name: str
    environment_name: str
    allow_missing: bool
    def __init__(self, name: _Optional[str] = ..., environment_name: _Optional[str] = ..., allow_missing: _Optional[bool] = ...) -> None: ...

class VolumeMount(_message.Message):
    __slots__ = ("mount_path", "volume_id")
    MOUNT_PATH_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    mount_path: str
    volume_id: str
    def __init__(self, mount_path: _Optional[str] = ..., volume_id: _Optional[str] = ...) -> None: ...

class VolumeFile(_message.Message):
    __slots__ = ("path", "sha256", "size", "mode", "mtime")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    path: str
    sha256: str
    size: int
    mode: int
    mtime: float
    def __init__(self, path: _Optional[str] = ..., sha256: _Optional[str] = ..., size: _Optional[int] = ..., mode: _Optional[int] = ..., mtime: _Optional[float] = ...) -> None: ...

class VolumeManifest(_message.Message):
    __slots__ = ("version", "files")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    version: int
    files: _containers.RepeatedCompositeFieldContainer[VolumeFile]
    def __init__(self, version: _Optional[int] = ..., files: _Optional[_Iterable[_Union[VolumeFile, _Mapping]]] = ...) -> None: ...

class VolumeGetManifestRequest(_message.Message):
    __slots__ = ("volume_id",)
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    def __init__(self, volume_id: _Optional[str] = ...) -> None: ...

class VolumeCommitRequest(_message.Message):
    __slots__ = ("volume_id", "container_id", "puts", "deletes", "recursive", "no_overwrite", "must_exist")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    PUTS_FIELD_NUMBER: _ClassVar[int]
    DELETES_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    NO_OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    MUST_EXIST_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    container_id: str
    puts: _containers.RepeatedCompositeFieldContainer[VolumeFile]
    deletes: _containers.RepeatedScalarFieldContainer[str]
    recursive: bool
    no_overwrite: bool
    must_exist: bool
    def __init__(self, volume_id: _Optional[str] = ..., container_id: _Optional[str] = ..., puts: _Optional[_Iterable[_Union[VolumeFile, _Mapping]]] = ..., deletes: _Optional[_Iterable[str]] = ..., recursive: _Optional[bool] = ..., no_overwrite: _Optional[bool] = ..., must_exist: _Optional[bool] = ...) -> None: ...

class VolumeReloadRequest(_message.Message):
    __slots__ = ("volume_id", "container_id")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    container_id: str
    def __init__(self, volume_id: _Optional[str] = ..., container_id: _Optional[str] = ...) -> None: ...

class DataObjectListRequest(_message.Message):
    __slots__ = ("kind", "environment_name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    kind: DataObjectKind
    environment_name: str
    def __init__(self, kind: _Optional[_Union[DataObjectKind, str]] = ..., environment_name: _Optional[str] = ...) -> None: ...

class DataObjectInfo(_message.Message):
    __slots__ = ("object_id", "name", "environment_name", "created_at")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    name: str
    environment_name: str
    created_at: float
    def __init__(self, object_id: _Optional[str] = ..., name: _Optional[str] = ..., environment_name: _Optional[str] = ..., created_at: _Optional[float] = ...) -> None: ...

class DataObjectListResponse(_message.Message):
    __slots__ = ("objects",)
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    objects: _containers.RepeatedCompositeFieldContainer[DataObjectInfo]
    def __init__(self, objects: _Optional[_Iterable[_Union[DataObjectInfo, _Mapping]]] = ...) -> None: ...

class VolumeRenameRequest(_message.Message):
    __slots__ = ("volume_id", "name")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    name: str
    def __init__(self, volume_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class WebEndpoint(_message.Message):
    __slots__ = ("kind", "method_name", "http_method", "label", "docs", "requires_proxy_auth", "custom_domains", "port", "startup_timeout")
    KIND_FIELD_NUMBER: _ClassVar[int]
    METHOD_NAME_FIELD_NUMBER: _ClassVar[int]
    HTTP_METHOD_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DOCS_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_PROXY_AUTH_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    STARTUP_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    method_name: str
    http_method: str
    label: str
    docs: bool
    requires_proxy_auth: bool
    custom_domains: _containers.RepeatedScalarFieldContainer[str]
    port: int
    startup_timeout: float
    def __init__(self, kind: _Optional[str] = ..., method_name: _Optional[str] = ..., http_method: _Optional[str] = ..., label: _Optional[str] = ..., docs: _Optional[bool] = ..., requires_proxy_auth: _Optional[bool] = ..., custom_domains: _Optional[_Iterable[str]] = ..., port: _Optional[int] = ..., startup_timeout: _Optional[float] = ...) -> None: ...

class WebInfoRequest(_message.Message):
    __slots__ = ("function_id", "method_name")
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_NAME_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    method_name: str
    def __init__(self, function_id: _Optional[str] = ..., method_name: _Optional[str] = ...) -> None: ...

class WebInfoResponse(_message.Message):
    __slots__ = ("url", "gateway_url")
    URL_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_URL_FIELD_NUMBER: _ClassVar[int]
    url: str
    gateway_url: str
    def __init__(self, url: _Optional[str] = ..., gateway_url: _Optional[str] = ...) -> None: ...

class ProxyAuthTokenCreateRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ProxyAuthTokenCreateResponse(_message.Message):
    __slots__ = ("token_id", "token_secret")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SECRET_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    token_secret: str
    def __init__(self, token_id: _Optional[str] = ..., token_secret: _Optional[str] = ...) -> None: ...

class SandboxCreateRequest(_message.Message):
    __slots__ = ("app_id", "image_id", "entrypoint_args", "secret_ids", "volume_mounts", "timeout_secs", "workdir", "cpu", "cpu_limit", "memory_mb", "memory_limit_mb", "gpu", "block_network", "cidr_allowlist", "encrypted_ports", "unencrypted_ports", "has_cidr_allowlist", "container_id", "container_token", "nfs_mounts", "bucket_mounts")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_ARGS_FIELD_NUMBER: _ClassVar[int]
    SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
    VOLUME_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECS_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    CPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_MB_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NETWORK_FIELD_NUMBER: _ClassVar[int]
    CIDR_ALLOWLIST_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTED_PORTS_FIELD_NUMBER: _ClassVar[int]
    UNENCRYPTED_PORTS_FIELD_NUMBER: _ClassVar[int]
    HAS_CIDR_ALLOWLIST_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NFS_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    BUCKET_MOUNTS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    image_id: str
    entrypoint_args: _containers.RepeatedScalarFieldContainer[str]
    secret_ids: _containers.RepeatedScalarFieldContainer[str]
    volume_mounts: _containers.RepeatedCompositeFieldContainer[VolumeMount]
    timeout_secs: float
    workdir: str
    cpu: float
    cpu_limit: float
    memory_mb: int
    memory_limit_mb: int
    gpu: str
    block_network: bool
    cidr_allowlist: _containers.RepeatedScalarFieldContainer[str]
    encrypted_ports: _containers.RepeatedScalarFieldContainer[int]
    unencrypted_ports: _containers.RepeatedScalarFieldContainer[int]
    has_cidr_allowlist: bool
    container_id: str
    container_token: str
    nfs_mounts: _containers.RepeatedCompositeFieldContainer[NfsMount]
    bucket_mounts: _containers.RepeatedCompositeFieldContainer[BucketMount]
    def __init__(self, app_id: _Optional[str] = ..., image_id: _Optional[str] = ..., entrypoint_args: _Optional[_Iterable[str]] = ..., secret_ids: _Optional[_Iterable[str]] = ..., volume_mounts: _Optional[_Iterable[_Union[VolumeMount, _Mapping]]] = ..., timeout_secs: _Optional[float] = ..., workdir: _Optional[str] = ..., cpu: _Optional[float] = ..., cpu_limit: _Optional[float] = ..., memory_mb: _Optional[int] = ..., memory_limit_mb: _Optional[int] = ..., gpu: _Optional[str] = ..., block_network: _Optional[bool] = ..., cidr_allowlist: _Optional[_Iterable[str]] = ..., encrypted_ports: _Optional[_Iterable[int]] = ..., unencrypted_ports: _Optional[_Iterable[int]] = ..., has_cidr_allowlist: _Optional[bool] = ..., container_id: _Optional[str] = ..., container_token: _Optional[str] = ..., nfs_mounts: _Optional[_Iterable[_Union[NfsMount, _Mapping]]] = ..., bucket_mounts: _Optional[_Iterable[_Union[BucketMount, _Mapping]]] = ...) -> None: ...

class SandboxCreateResponse(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class SandboxInfo(_message.Message):
    __slots__ = ("sandbox_id", "app_id", "finished", "exit_code", "reason", "tags", "created_at", "finished_at", "image_id", "command", "error")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    app_id: str
    finished: bool
    exit_code: int
    reason: str
    tags: _containers.ScalarMap[str, str]
    created_at: float
    finished_at: float
    image_id: str
    command: _containers.RepeatedScalarFieldContainer[str]
    error: str
    def __init__(self, sandbox_id: _Optional[str] = ..., app_id: _Optional[str] = ..., finished: _Optional[bool] = ..., exit_code: _Optional[int] = ..., reason: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., created_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., image_id: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., error: _Optional[str] = ...) -> None: ...

class SandboxGetRequest(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class SandboxWaitRequest(_message.Message):
    __slots__ = ("sandbox_id", "timeout_secs")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    timeout_secs: float
    def __init__(self, sandbox_id: _Optional[str] = ..., timeout_secs: _Optional[float] = ...) -> None: ...

class SandboxTerminateRequest(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class SandboxListRequest(_message.Message):
    __slots__ = ("app_id", "tags", "include_finished")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    tags: _containers.ScalarMap[str, str]
    include_finished: bool
    def __init__(self, app_id: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., include_finished: _Optional[bool] = ...) -> None: ...

class SandboxListResponse(_message.Message):
    __slots__ = ("sandboxes",)
    SANDBOXES_FIELD_NUMBER: _ClassVar[int]
    sandboxes: _containers.RepeatedCompositeFieldContainer[SandboxInfo]
    def __init__(self, sandboxes: _Optional[_Iterable[_Union[SandboxInfo, _Mapping]]] = ...) -> None: ...

class SandboxSetTagsRequest(_message.Message):
    __slots__ = ("sandbox_id", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    tags: _containers.ScalarMap[str, str]
    def __init__(self, sandbox_id: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ProcessExec(_message.Message):
    __slots__ = ("sandbox_id", "container_id", "command", "workdir", "secret_ids", "timeout_secs", "stdout", "stderr", "pty", "rows", "cols", "term")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    SECRET_IDS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECS_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    PTY_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    container_id: str
    command: _containers.RepeatedScalarFieldContainer[str]
    workdir: str
    secret_ids: _containers.RepeatedScalarFieldContainer[str]
    timeout_secs: float
    stdout: ProcessStreamType
    stderr: ProcessStreamType
    pty: bool
    rows: int
    cols: int
    term: str
    def __init__(self, sandbox_id: _Optional[str] = ..., container_id: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., workdir: _Optional[str] = ..., secret_ids: _Optional[_Iterable[str]] = ..., timeout_secs: _Optional[float] = ..., stdout: _Optional[_Union[ProcessStreamType, str]] = ..., stderr: _Optional[_Union[ProcessStreamType, str]] = ..., pty: _Optional[bool] = ..., rows: _Optional[int] = ..., cols: _Optional[int] = ..., term: _Optional[str] = ...) -> None: ...

class ProcessAttach(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class ProcessInput(_message.Message):
    __slots__ = ("data", "eof", "rows", "cols", "signal")
    DATA_FIELD_NUMBER: _ClassVar[int]
    EOF_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    eof: bool
    rows: int
    cols: int
    signal: int
    def __init__(self, data: _Optional[bytes] = ..., eof: _Optional[bool] = ..., rows: _Optional[int] = ..., cols: _Optional[int] = ..., signal: _Optional[int] = ...) -> None: ...

class ProcessStreamRequest(_message.Message):
    __slots__ = ("exec", "attach", "input")
    EXEC_FIELD_NUMBER: _ClassVar[int]
    ATTACH_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    exec: ProcessExec
    attach: ProcessAttach
    input: ProcessInput
    def __init__(self, exec: _Optional[_Union[ProcessExec, _Mapping]] = ..., attach: _Optional[_Union[ProcessAttach, _Mapping]] = ..., input: _Optional[_Union[ProcessInput, _Mapping]] = ...) -> None: ...

class ProcessStreamResponse(_message.Message):
    __slots__ = ("process_id", "fd", "data", "exited", "exit_code", "error", "error_kind")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    FD_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    fd: int
    data: bytes
    exited: bool
    exit_code: int
    error: str
    error_kind: str
    def __init__(self, process_id: _Optional[str] = ..., fd: _Optional[int] = ..., data: _Optional[bytes] = ..., exited: _Optional[bool] = ..., exit_code: _Optional[int] = ..., error: _Optional[str] = ..., error_kind: _Optional[str] = ...) -> None: ...

class SandboxFsRequest(_message.Message):
    __slots__ = ("sandbox_id", "op", "path", "mode", "handle", "data", "n", "offset", "whence", "flag")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    WHENCE_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    op: str
    path: str
    mode: str
    handle: int
    data: bytes
    n: int
    offset: int
    whence: int
    flag: bool
    def __init__(self, sandbox_id: _Optional[str] = ..., op: _Optional[str] = ..., path: _Optional[str] = ..., mode: _Optional[str] = ..., handle: _Optional[int] = ..., data: _Optional[bytes] = ..., n: _Optional[int] = ..., offset: _Optional[int] = ..., whence: _Optional[int] = ..., flag: _Optional[bool] = ...) -> None: ...

class SandboxFsResponse(_message.Message):
    __slots__ = ("data", "handle", "entries", "position")
    DATA_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    handle: int
    entries: _containers.RepeatedScalarFieldContainer[str]
    position: int
    def __init__(self, data: _Optional[bytes] = ..., handle: _Optional[int] = ..., entries: _Optional[_Iterable[str]] = ..., position: _Optional[int] = ...) -> None: ...

class SandboxWatchRequest(_message.Message):
    __slots__ = ("sandbox_id", "path", "recursive", "timeout_secs", "filter")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    recursive: bool
    timeout_secs: float
    filter: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ..., recursive: _Optional[bool] = ..., timeout_secs: _Optional[float] = ..., filter: _Optional[_Iterable[str]] = ...) -> None: ...

class SandboxWatchEvent(_message.Message):
    __slots__ = ("type", "paths")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    type: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, type: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ...) -> None: ...

class SandboxSnapshotFsRequest(_message.Message):
    __slots__ = ("sandbox_id", "timeout_secs")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    timeout_secs: float
    def __init__(self, sandbox_id: _Optional[str] = ..., timeout_secs: _Optional[float] = ...) -> None: ...

class SandboxSnapshotFsResponse(_message.Message):
    __slots__ = ("image_id",)
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    def __init__(self, image_id: _Optional[str] = ...) -> None: ...

class TunnelInfo(_message.Message):
    __slots__ = ("container_port", "host", "port", "unencrypted_host", "unencrypted_port")
    CONTAINER_PORT_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    UNENCRYPTED_HOST_FIELD_NUMBER: _ClassVar[int]
    UNENCRYPTED_PORT_FIELD_NUMBER: _ClassVar[int]
    container_port: int
    host: str
    port: int
    unencrypted_host: str
    unencrypted_port: int
    def __init__(self, container_port: _Optional[int] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., unencrypted_host: _Optional[str] = ..., unencrypted_port: _Optional[int] = ...) -> None: ...

class SandboxTunnelsRequest(_message.Message):
    __slots__ = ("sandbox_id", "timeout_secs")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    timeout_secs: float
    def __init__(self, sandbox_id: _Optional[str] = ..., timeout_secs: _Optional[float] = ...) -> None: ...

class SandboxTunnelsResponse(_message.Message):
    __slots__ = ("tunnels",)
    TUNNELS_FIELD_NUMBER: _ClassVar[int]
    tunnels: _containers.RepeatedCompositeFieldContainer[TunnelInfo]
    def __init__(self, tunnels: _Optional[_Iterable[_Union[TunnelInfo, _Mapping]]] = ...) -> None: ...

class TunnelOpenRequest(_message.Message):
    __slots__ = ("container_id", "token", "port", "unencrypted")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    UNENCRYPTED_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    token: str
    port: int
    unencrypted: bool
    def __init__(self, container_id: _Optional[str] = ..., token: _Optional[str] = ..., port: _Optional[int] = ..., unencrypted: _Optional[bool] = ...) -> None: ...

class TunnelCloseRequest(_message.Message):
    __slots__ = ("container_id", "token", "port")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    token: str
    port: int
    def __init__(self, container_id: _Optional[str] = ..., token: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class ContainerListRequest(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...

class ContainerInfo(_message.Message):
    __slots__ = ("container_id", "app_id", "function_name", "kind", "started_at", "state")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    app_id: str
    function_name: str
    kind: str
    started_at: float
    state: str
    def __init__(self, container_id: _Optional[str] = ..., app_id: _Optional[str] = ..., function_name: _Optional[str] = ..., kind: _Optional[str] = ..., started_at: _Optional[float] = ..., state: _Optional[str] = ...) -> None: ...

class ContainerListResponse(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[ContainerInfo]
    def __init__(self, containers: _Optional[_Iterable[_Union[ContainerInfo, _Mapping]]] = ...) -> None: ...

class ContainerStopRequest(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    def __init__(self, container_id: _Optional[str] = ...) -> None: ...

class GpuListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GpuInfo(_message.Message):
    __slots__ = ("node", "index", "name", "gpu_type", "uuid", "memory_mb", "container_id")
    NODE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    GPU_TYPE_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    node: str
    index: int
    name: str
    gpu_type: str
    uuid: str
    memory_mb: int
    container_id: str
    def __init__(self, node: _Optional[str] = ..., index: _Optional[int] = ..., name: _Optional[str] = ..., gpu_type: _Optional[str] = ..., uuid: _Optional[str] = ..., memory_mb: _Optional[int] = ..., container_id: _Optional[str] = ...) -> None: ...

class GpuListResponse(_message.Message):
    __slots__ = ("gpus", "fallback")
    GPUS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    gpus: _containers.RepeatedCompositeFieldContainer[GpuInfo]
    fallback: str
    def __init__(self, gpus: _Optional[_Iterable[_Union[GpuInfo, _Mapping]]] = ..., fallback: _Optional[str] = ...) -> None: ...

class NfsMount(_message.Message):
    __slots__ = ("mount_path", "nfs_id")
    MOUNT_PATH_FIELD_NUMBER: _ClassVar[int]
    NFS_ID_FIELD_NUMBER: _ClassVar[int]
    mount_path: str
    nfs_id: str
    def __init__(self, mount_path: _Optional[str] = ..., nfs_id: _Optional[str] = ...) -> None: ...

class NfsWriteRequest(_message.Message):
    __slots__ = ("nfs_id", "path", "data")
    NFS_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    nfs_id: str
    path: str
    data: bytes
    def __init__(self, nfs_id: _Optional[str] = ..., path: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class NfsWriteResponse(_message.Message):
    __slots__ = ("size",)
    SIZE_FIELD_NUMBER: _ClassVar[int]
    size: int
    def __init__(self, size: _Optional[int] = ...) -> None: ...

class NfsReadRequest(_message.Message):
    __slots__ = ("nfs_id", "path")
    NFS_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    nfs_id: str
    path: str
    def __init__(self, nfs_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class NfsChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class NfsListRequest(_message.Message):
    __slots__ = ("nfs_id", "path")
    NFS_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    nfs_id: str
    path: str
    def __init__(self, nfs_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class NfsFileEntry(_message.Message):
    __slots__ = ("path", "type", "mtime", "size")
    PATH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    path: str
    type: int
    mtime: float
    size: int
    def __init__(self, path: _Optional[str] = ..., type: _Optional[int] = ..., mtime: _Optional[float] = ..., size: _Optional[int] = ...) -> None: ...

class NfsListResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[NfsFileEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[NfsFileEntry, _Mapping]]] = ...) -> None: ...

class NfsRemoveRequest(_message.Message):
    __slots__ = ("nfs_id", "path", "recursive")
    NFS_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    nfs_id: str
    path: str
    recursive: bool
    def __init__(self, nfs_id: _Optional[str] = ..., path: _Optional[str] = ..., recursive: _Optional[bool] = ...) -> None: ...

class AppRollbackRequest(_message.Message):
    __slots__ = ("name", "environment_name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    environment_name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., environment_name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class AppRollbackResponse(_message.Message):
    __slots__ = ("app_id", "version")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    version: int
    def __init__(self, app_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class EnvironmentCreateRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class EnvironmentDeleteRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class EnvironmentInfo(_message.Message):
    __slots__ = ("name", "created_at", "is_default")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    name: str
    created_at: float
    is_default: bool
    def __init__(self, name: _Optional[str] = ..., created_at: _Optional[float] = ..., is_default: _Optional[bool] = ...) -> None: ...

class EnvironmentListResponse(_message.Message):
    __slots__ = ("environments",)
    ENVIRONMENTS_FIELD_NUMBER: _ClassVar[int]
    environments: _containers.RepeatedCompositeFieldContainer[EnvironmentInfo]
    def __init__(self, environments: _Optional[_Iterable[_Union[EnvironmentInfo, _Mapping]]] = ...) -> None: ...

class DataOp(_message.Message):
    __slots__ = ("id", "dict_get", "dict_put", "dict_pop", "dict_len", "queue_put", "queue_get", "queue_len")
    ID_FIELD_NUMBER: _ClassVar[int]
    DICT_GET_FIELD_NUMBER: _ClassVar[int]
    DICT_PUT_FIELD_NUMBER: _ClassVar[int]
    DICT_POP_FIELD_NUMBER: _ClassVar[int]
    DICT_LEN_FIELD_NUMBER: _ClassVar[int]
    QUEUE_PUT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_GET_FIELD_NUMBER: _ClassVar[int]
    QUEUE_LEN_FIELD_NUMBER: _ClassVar[int]
    id: int
    dict_get: DictGetRequest
    dict_put: DictPutRequest
    dict_pop: DictPopRequest
    dict_len: DictLenRequest
    queue_put: QueuePutRequest
    queue_get: QueueGetRequest
    queue_len: QueueLenRequest
    def __init__(self, id: _Optional[int] = ..., dict_get: _Optional[_Union[DictGetRequest, _Mapping]] = ..., dict_put: _Optional[_Union[DictPutRequest, _Mapping]] = ..., dict_pop: _Optional[_Union[DictPopRequest, _Mapping]] = ..., dict_len: _Optional[_Union[DictLenRequest, _Mapping]] = ..., queue_put: _Optional[_Union[QueuePutRequest, _Mapping]] = ..., queue_get: _Optional[_Union[QueueGetRequest, _Mapping]] = ..., queue_len: _Optional[_Union[QueueLenRequest, _Mapping]] = ...) -> None: ...

class DataResult(_message.Message):
    __slots__ = ("id", "dict_get", "dict_put", "count", "queue_put", "queue_get", "error_kind", "error_message")
    ID_FIELD_NUMBER: _ClassVar[int]
    DICT_GET_FIELD_NUMBER: _ClassVar[int]
    DICT_PUT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_PUT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_GET_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: int
    dict_get: DictGetResponse
    dict_put: DictPutResponse
    count: DataCountResponse
    queue_put: QueuePutResponse
    queue_get: QueueGetResponse
    error_kind: str
    error_message: str
    def __init__(self, id: _Optional[int] = ..., dict_get: _Optional[_Union[DictGetResponse, _Mapping]] = ..., dict_put: _Optional[_Union[DictPutResponse, _Mapping]] = ..., count: _Optional[_Union[DataCountResponse, _Mapping]] = ..., queue_put: _Optional[_Union[QueuePutResponse, _Mapping]] = ..., queue_get: _Optional[_Union[QueueGetResponse, _Mapping]] = ..., error_kind: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...

class DataStreamRequest(_message.Message):
    __slots__ = ("ops",)
    OPS_FIELD_NUMBER: _ClassVar[int]
    ops: _containers.RepeatedCompositeFieldContainer[DataOp]
    def __init__(self, ops: _Optional[_Iterable[_Union[DataOp, _Mapping]]] = ...) -> None: ...

class DataStreamResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[DataResult]
    def __init__(self, results: _Optional[_Iterable[_Union[DataResult, _Mapping]]] = ...) -> None: ...

class BucketMount(_message.Message):
    __slots__ = ("mount_path", "bucket_name", "bucket_endpoint_url", "key_prefix", "secret_id", "read_only", "requester_pays")
    MOUNT_PATH_FIELD_NUMBER: _ClassVar[int]
    BUCKET_NAME_FIELD_NUMBER: _ClassVar[int]
    BUCKET_ENDPOINT_URL_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_PAYS_FIELD_NUMBER: _ClassVar[int]
    mount_path: str
    bucket_name: str
    bucket_endpoint_url: str
    key_prefix: str
    secret_id: str
    read_only: bool
    requester_pays: bool
    def __init__(self, mount_path: _Optional[str] = ..., bucket_name: _Optional[str] = ..., bucket_endpoint_url: _Optional[str] = ..., key_prefix: _Optional[str] = ..., secret_id: _Optional[str] = ..., read_only: _Optional[bool] = ..., requester_pays: _Optional[bool] = ...) -> None: ...

class BucketMountSyncRequest(_message.Message):
    __slots__ = ("container_id", "token")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    token: str
    def __init__(self, container_id: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class TokenCreateRequest(_message.Message):
    __slots__ = ("workspace", "user", "admin", "label")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    user: str
    admin: bool
    label: str
    def __init__(self, workspace: _Optional[str] = ..., user: _Optional[str] = ..., admin: _Optional[bool] = ..., label: _Optional[str] = ...) -> None: ...

class TokenCreateResponse(_message.Message):
    __slots__ = ("token_id", "token_secret", "workspace", "user", "admin")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SECRET_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    token_secret: str
    workspace: str
    user: str
    admin: bool
    def __init__(self, token_id: _Optional[str] = ..., token_secret: _Optional[str] = ..., workspace: _Optional[str] = ..., user: _Optional[str] = ..., admin: _Optional[bool] = ...) -> None: ...

class TokenInfo(_message.Message):
    __slots__ = ("token_id", "workspace", "user", "admin", "label", "created_at", "revoked_at", "last_used_at")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    workspace: str
    user: str
    admin: bool
    label: str
    created_at: float
    revoked_at: float
    last_used_at: float
    def __init__(self, token_id: _Optional[str] = ..., workspace: _Optional[str] = ..., user: _Optional[str] = ..., admin: _Optional[bool] = ..., label: _Optional[str] = ..., created_at: _Optional[float] = ..., revoked_at: _Optional[float] = ..., last_used_at: _Optional[float] = ...) -> None: ...

class TokenListRequest(_message.Message):
    __slots__ = ("all_workspaces", "include_revoked")
    ALL_WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_REVOKED_FIELD_NUMBER: _ClassVar[int]
    all_workspaces: bool
    include_revoked: bool
    def __init__(self, all_workspaces: _Optional[bool] = ..., include_revoked: _Optional[bool] = ...) -> None: ...

class TokenListResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class TokenRevokeRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("workspace", "user", "admin", "token_id", "kind", "server_admin")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SERVER_ADMIN_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    user: str
    admin: bool
    token_id: str
    kind: str
    server_admin: bool
    def __init__(self, workspace: _Optional[str] = ..., user: _Optional[str] = ..., admin: _Optional[bool] = ..., token_id: _Optional[str] = ..., kind: _Optional[str] = ..., server_admin: _Optional[bool] = ...) -> None: ...

class WorkspaceInfo(_message.Message):
    __slots__ = ("name", "created_at", "tokens")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    name: str
    created_at: float
    tokens: int
    def __init__(self, name: _Optional[str] = ..., created_at: _Optional[float] = ..., tokens: _Optional[int] = ...) -> None: ...

class WorkspaceListResponse(_message.Message):
    __slots__ = ("workspaces",)
    WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    workspaces: _containers.RepeatedCompositeFieldContainer[WorkspaceInfo]
    def __init__(self, workspaces: _Optional[_Iterable[_Union[WorkspaceInfo, _Mapping]]] = ...) -> None: ...

class SecretKeyRotateResponse(_message.Message):
    __slots__ = ("secrets_reencrypted", "key_path")
    SECRETS_REENCRYPTED_FIELD_NUMBER: _ClassVar[int]
    KEY_PATH_FIELD_NUMBER: _ClassVar[int]
    secrets_reencrypted: int
    key_path: str
    def __init__(self, secrets_reencrypted: _Optional[int] = ..., key_path: _Optional[str] = ...) -> None: ...

class AuditListRequest(_message.Message):
    __slots__ = ("limit", "workspace")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    limit: int
    workspace: str
    def __init__(self, limit: _Optional[int] = ..., workspace: _Optional[str] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("ts", "workspace", "actor", "action", "target", "detail")
    TS_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ts: float
    workspace: str
    actor: str
    action: str
    target: str
    detail: str
    def __init__(self, ts: _Optional[float] = ..., workspace: _Optional[str] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class AuditListResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ...) -> None: ...

class StreamOpen(_message.Message):
    __slots__ = ("method", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    METHOD_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    method: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, method: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class StreamStatus(_message.Message):
    __slots__ = ("code", "details", "error_kind")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    code: str
    details: str
    error_kind: str
    def __init__(self, code: _Optional[str] = ..., details: _Optional[str] = ..., error_kind: _Optional[str] = ...) -> None: ...

class InteractMessage(_message.Message):
    __slots__ = ("open", "data", "end", "attached")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    ATTACHED_FIELD_NUMBER: _ClassVar[int]
    open: InteractOpen
    data: bytes
    end: bool
    attached: bool
    def __init__(self, open: _Optional[_Union[InteractOpen, _Mapping]] = ..., data: _Optional[bytes] = ..., end: _Optional[bool] = ..., attached: _Optional[bool] = ...) -> None: ...

class InteractOpen(_message.Message):
    __slots__ = ("app_id",)
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    def __init__(self, app_id: _Optional[str] = ...) -> None: ...
