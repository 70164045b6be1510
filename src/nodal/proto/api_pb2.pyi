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

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HelloRequest(_message.Message):
    __slots__ = ("client_version",)
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    client_version: str
    def __init__(self, client_version: _Optional[str] = ...) -> None: ...

class HelloResponse(_message.Message):
    __slots__ = ("server_version", "pid")
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    server_version: str
    pid: int
    def __init__(self, server_version: _Optional[str] = ..., pid: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("kind", "spec_json", "force_build")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    FORCE_BUILD_FIELD_NUMBER: _ClassVar[int]
    kind: str
    spec_json: str
    force_build: bool
    def __init__(self, kind: _Optional[str] = ..., spec_json: _Optional[str] = ..., force_build: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("tag", "module_name", "qualname", "serialized", "is_class", "is_generator", "is_async", "image_id", "secret_ids", "timeout", "retries", "cpu", "cpu_limit", "memory_mb", "memory_limit_mb", "min_containers", "max_containers", "buffer_containers", "scaledown_window", "max_inputs", "max_concurrent_inputs", "target_concurrent_inputs", "batch_max_size", "batch_wait_ms", "block_network", "env", "method_names", "generator_methods", "startup_timeout", "enable_memory_snapshot", "gpu", "schedule_json", "webhook", "volume_mounts")
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
    def __init__(self, tag: _Optional[str] = ..., module_name: _Optional[str] = ..., qualname: _Optional[str] = ..., serialized: _Optional[bytes] = ..., is_class: _Optional[bool] = ..., is_generator: _Optional[bool] = ..., is_async: _Optional[bool] = ..., image_id: _Optional[str] = ..., secret_ids: _Optional[_Iterable[str]] = ..., timeout: _Optional[float] = ..., retries: _Optional[_Union[RetryPolicy, _Mapping]] = ..., cpu: _Optional[float] = ..., cpu_limit: _Optional[float] = ..., memory_mb: _Optional[int] = ..., memory_limit_mb: _Optional[int] = ..., min_containers: _Optional[int] = ..., max_containers: _Optional[int] = ..., buffer_containers: _Optional[int] = ..., scaledown_window: _Optional[float] = ..., max_inputs: _Optional[int] = ..., max_concurrent_inputs: _Optional[int] = ..., target_concurrent_inputs: _Optional[int] = ..., batch_max_size: _Optional[int] = ..., batch_wait_ms: _Optional[int] = ..., block_network: _Optional[bool] = ..., env: _Optional[_Mapping[str, str]] = ..., method_names: _Optional[_Iterable[str]] = ..., generator_methods: _Optional[_Iterable[str]] = ..., startup_timeout: _Optional[float] = ..., enable_memory_snapshot: _Optional[bool] = ..., gpu: _Optional[str] = ..., schedule_json: _Optional[str] = ..., webhook: _Optional[bool] = ..., volume_mounts: _Optional[_Iterable[_Union[VolumeMount, _Mapping]]] = ...) -> None: ...

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
    __slots__ = ("cpu", "memory", "gpu", "secrets", "env", "retries", "timeout", "min_containers", "max_containers", "buffer_containers", "scaledown_window", "concurrency", "batching")
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
    def __init__(self, cpu: _Optional[_Union[FunctionOverrides.Cpu, _Mapping]] = ..., memory: _Optional[_Union[FunctionOverrides.Memory, _Mapping]] = ..., gpu: _Optional[str] = ..., secrets: _Optional[_Union[FunctionOverrides.Secrets, _Mapping]] = ..., env: _Optional[_Mapping[str, str]] = ..., retries: _Optional[_Union[RetryPolicy, _Mapping]] = ..., timeout: _Optional[float] = ..., min_containers: _Optional[int] = ..., max_containers: _Optional[int] = ..., buffer_containers: _Optional[int] = ..., scaledown_window: _Optional[float] = ..., concurrency: _Optional[_Union[FunctionOverrides.Concurrency, _Mapping]] = ..., batching: _Optional[_Union[FunctionOverrides.Batching, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("hello", "ready", "outputs", "init_failed")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    INIT_FAILED_FIELD_NUMBER: _ClassVar[int]
    hello: WorkerHello
    ready: WorkerReady
    outputs: WorkerOutputs
    init_failed: WorkerInitFailed
    def __init__(self, hello: _Optional[_Union[WorkerHello, _Mapping]] = ..., ready: _Optional[_Union[WorkerReady, _Mapping]] = ..., outputs: _Optional[_Union[WorkerOutputs, _Mapping]] = ..., init_failed: _Optional[_Union[WorkerInitFailed, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("container_id", "app_id", "function_id", "definition", "serialized_params", "app_function_ids")
    class AppFunctionIdsEntry(_message.Message):
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
    container_id: str
    app_id: str
    function_id: str
    definition: FunctionDef
    serialized_params: bytes
    app_function_ids: _containers.ScalarMap[str, str]
    def __init__(self, container_id: _Optional[str] = ..., app_id: _Optional[str] = ..., function_id: _Optional[str] = ..., definition: _Optional[_Union[FunctionDef, _Mapping]] = ..., serialized_params: _Optional[bytes] = ..., app_function_ids: _Optional[_Mapping[str, str]] = ...) -> None: ...

class WorkerDirective(_message.Message):
    __slots__ = ("init", "inputs", "cancel_input_id", "shutdown")
    INIT_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    CANCEL_INPUT_ID_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_FIELD_NUMBER: _ClassVar[int]
    init: ContainerInit
    inputs: WorkerInputs
    cancel_input_id: str
    shutdown: bool
    def __init__(self, init: _Optional[_Union[ContainerInit, _Mapping]] = ..., inputs: _Optional[_Union[WorkerInputs, _Mapping]] = ..., cancel_input_id: _Optional[str] = ..., shutdown: _Optional[bool] = ...) -> None: ...

class WorkerInputs(_message.Message):
    __slots__ = ("inputs",)
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedCompositeFieldContainer[WorkerInput]
    def __init__(self, inputs: _Optional[_Iterable[_Union[WorkerInput, _Mapping]]] = ...) -> None: ...

class DataObjectGetOrCreateRequest(_message.Message):
    __slots__ = ("kind", "name", "environment_name", "create_if_missing", "ephemeral")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_IF_MISSING_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    kind: DataObjectKind
    name: str
    environment_name: str
    create_if_missing: bool
    ephemeral: bool
    def __init__(self, kind: _Optional[_Union[DataObjectKind, str]] = ..., name: _Optional[str] = ..., environment_name: _Optional[str] = ..., create_if_missing: _Optional[bool] = ..., ephemeral: _Optional[bool] = ...) -> None: ...

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
