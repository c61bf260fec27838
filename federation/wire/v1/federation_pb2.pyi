import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Enterprise(_message.Message):
    __slots__ = ("name", "credit_code", "contact_phone")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_PHONE_FIELD_NUMBER: _ClassVar[int]
    name: str
    credit_code: str
    contact_phone: str
    def __init__(self, name: _Optional[str] = ..., credit_code: _Optional[str] = ..., contact_phone: _Optional[str] = ...) -> None: ...

class Deadline(_message.Message):
    __slots__ = ("kind", "start", "due")
    KIND_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    DUE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    start: _timestamp_pb2.Timestamp
    due: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("issue_id", "version", "kind", "actor", "at", "payload_json", "node")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    version: int
    kind: str
    actor: str
    at: _timestamp_pb2.Timestamp
    payload_json: str
    node: str
    def __init__(self, issue_id: _Optional[str] = ..., version: _Optional[int] = ..., kind: _Optional[str] = ..., actor: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., payload_json: _Optional[str] = ..., node: _Optional[str] = ...) -> None: ...

class IssueSnapshot(_message.Message):
    __slots__ = ("id", "number", "origin", "owner", "state", "version", "enterprise", "channel", "title", "content", "tags", "board", "department", "ladder_step", "deadline", "resolve_due", "urge_count", "last_enterprise_urge_at", "reply", "rejection_reason", "rating", "rating_comment", "reopen_count", "resolved_at", "closed_at", "outcome", "revisit_result", "came_from", "received_at", "updated_at", "supervision_count", "subject_kind", "channel_fields", "ladder_unit", "rejected_by")
    class ChannelFieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENTERPRISE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    BOARD_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    LADDER_STEP_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_DUE_FIELD_NUMBER: _ClassVar[int]
    URGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_ENTERPRISE_URGE_AT_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    REJECTION_REASON_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    RATING_COMMENT_FIELD_NUMBER: _ClassVar[int]
    REOPEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REVISIT_RESULT_FIELD_NUMBER: _ClassVar[int]
    CAME_FROM_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SUPERVISION_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_KIND_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELDS_FIELD_NUMBER: _ClassVar[int]
    LADDER_UNIT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    number: str
    origin: str
    owner: str
    state: str
    version: int
    enterprise: Enterprise
    channel: str
    title: str
    content: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    board: str
    department: str
    ladder_step: int
    deadline: Deadline
    resolve_due: _timestamp_pb2.Timestamp
    urge_count: int
    last_enterprise_urge_at: _timestamp_pb2.Timestamp
    reply: str
    rejection_reason: str
    rating: str
    rating_comment: str
    reopen_count: int
    resolved_at: _timestamp_pb2.Timestamp
    closed_at: _timestamp_pb2.Timestamp
    outcome: str
    revisit_result: str
    came_from: str
    received_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    supervision_count: int
    subject_kind: str
    channel_fields: _containers.ScalarMap[str, str]
    ladder_unit: str
    rejected_by: str
    def __init__(self, id: _Optional[str] = ..., number: _Optional[str] = ..., origin: _Optional[str] = ..., owner: _Optional[str] = ..., state: _Optional[str] = ..., version: _Optional[int] = ..., enterprise: _Optional[_Union[Enterprise, _Mapping]] = ..., channel: _Optional[str] = ..., title: _Optional[str] = ..., content: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., board: _Optional[str] = ..., department: _Optional[str] = ..., ladder_step: _Optional[int] = ..., deadline: _Optional[_Union[Deadline, _Mapping]] = ..., resolve_due: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., urge_count: _Optional[int] = ..., last_enterprise_urge_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reply: _Optional[str] = ..., rejection_reason: _Optional[str] = ..., rating: _Optional[str] = ..., rating_comment: _Optional[str] = ..., reopen_count: _Optional[int] = ..., resolved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[str] = ..., revisit_result: _Optional[str] = ..., came_from: _Optional[str] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., supervision_count: _Optional[int] = ..., subject_kind: _Optional[str] = ..., channel_fields: _Optional[_Mapping[str, str]] = ..., ladder_unit: _Optional[str] = ..., rejected_by: _Optional[str] = ...) -> None: ...

class EscalateRequest(_message.Message):
    __slots__ = ("transfer_id", "origin_node", "issue", "history", "transfer")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_NODE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    origin_node: str
    issue: IssueSnapshot
    history: _containers.RepeatedCompositeFieldContainer[Event]
    transfer: Event
    def __init__(self, transfer_id: _Optional[str] = ..., origin_node: _Optional[str] = ..., issue: _Optional[_Union[IssueSnapshot, _Mapping]] = ..., history: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., transfer: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...

class ReturnRequest(_message.Message):
    __slots__ = ("transfer_id", "origin_node", "issue", "history", "transfer")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_NODE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    origin_node: str
    issue: IssueSnapshot
    history: _containers.RepeatedCompositeFieldContainer[Event]
    transfer: Event
    def __init__(self, transfer_id: _Optional[str] = ..., origin_node: _Optional[str] = ..., issue: _Optional[_Union[IssueSnapshot, _Mapping]] = ..., history: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., transfer: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...

class TransferAccepted(_message.Message):
    __slots__ = ("transfer_id", "issue_id", "new_owner", "number", "version", "duplicate", "accepted_at")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_OWNER_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_AT_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    issue_id: str
    new_owner: str
    number: str
    version: int
    duplicate: bool
    accepted_at: _timestamp_pb2.Timestamp
    def __init__(self, transfer_id: _Optional[str] = ..., issue_id: _Optional[str] = ..., new_owner: _Optional[str] = ..., number: _Optional[str] = ..., version: _Optional[int] = ..., duplicate: _Optional[bool] = ..., accepted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FetchRequest(_message.Message):
    __slots__ = ("issue_id", "after_version")
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    issue_id: str
    after_version: int
    def __init__(self, issue_id: _Optional[str] = ..., after_version: _Optional[int] = ...) -> None: ...

class FetchResponse(_message.Message):
    __slots__ = ("issue", "history")
    ISSUE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    issue: IssueSnapshot
    history: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, issue: _Optional[_Union[IssueSnapshot, _Mapping]] = ..., history: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class WatermarkRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatermarkResponse(_message.Message):
    __slots__ = ("through",)
    THROUGH_FIELD_NUMBER: _ClassVar[int]
    through: int
    def __init__(self, through: _Optional[int] = ...) -> None: ...

class DirectiveRequest(_message.Message):
    __slots__ = ("transfer_id", "origin_node", "issue_id", "kind", "note", "issued_by", "rating", "credit_code", "attachment_json")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_NODE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    ISSUED_BY_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    origin_node: str
    issue_id: str
    kind: str
    note: str
    issued_by: str
    rating: str
    credit_code: str
    attachment_json: str
    def __init__(self, transfer_id: _Optional[str] = ..., origin_node: _Optional[str] = ..., issue_id: _Optional[str] = ..., kind: _Optional[str] = ..., note: _Optional[str] = ..., issued_by: _Optional[str] = ..., rating: _Optional[str] = ..., credit_code: _Optional[str] = ..., attachment_json: _Optional[str] = ...) -> None: ...

class DirectiveAccepted(_message.Message):
    __slots__ = ("transfer_id", "handled_by", "forwarded", "duplicate")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    HANDLED_BY_FIELD_NUMBER: _ClassVar[int]
    FORWARDED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    handled_by: str
    forwarded: bool
    duplicate: bool
    def __init__(self, transfer_id: _Optional[str] = ..., handled_by: _Optional[str] = ..., forwarded: _Optional[bool] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class TransferItem(_message.Message):
    __slots__ = ("escalate", "return_down")
    ESCALATE_FIELD_NUMBER: _ClassVar[int]
    RETURN_DOWN_FIELD_NUMBER: _ClassVar[int]
    escalate: EscalateRequest
    return_down: ReturnRequest
    def __init__(self, escalate: _Optional[_Union[EscalateRequest, _Mapping]] = ..., return_down: _Optional[_Union[ReturnRequest, _Mapping]] = ...) -> None: ...

class TransferEnvelope(_message.Message):
    __slots__ = ("batch_id", "origin_node", "items")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_NODE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    origin_node: str
    items: _containers.RepeatedCompositeFieldContainer[TransferItem]
    def __init__(self, batch_id: _Optional[str] = ..., origin_node: _Optional[str] = ..., items: _Optional[_Iterable[_Union[TransferItem, _Mapping]]] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "params_json", "status", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: str
    params_json: bytes
    status: str
    details: str
    def __init__(self, code: _Optional[str] = ..., params_json: _Optional[bytes] = ..., status: _Optional[str] = ..., details: _Optional[str] = ...) -> None: ...

class TransferOutcome(_message.Message):
    __slots__ = ("transfer_id", "accepted", "refused")
    TRANSFER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    transfer_id: str
    accepted: TransferAccepted
    refused: ItemError
    def __init__(self, transfer_id: _Optional[str] = ..., accepted: _Optional[_Union[TransferAccepted, _Mapping]] = ..., refused: _Optional[_Union[ItemError, _Mapping]] = ...) -> None: ...

class TransferEnvelopeResult(_message.Message):
    __slots__ = ("batch_id", "outcomes")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    outcomes: _containers.RepeatedCompositeFieldContainer[TransferOutcome]
    def __init__(self, batch_id: _Optional[str] = ..., outcomes: _Optional[_Iterable[_Union[TransferOutcome, _Mapping]]] = ...) -> None: ...

class AttachmentRequest(_message.Message):
    __slots__ = ("sha256", "issue_key", "requester")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ISSUE_KEY_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    issue_key: str
    requester: str
    def __init__(self, sha256: _Optional[str] = ..., issue_key: _Optional[str] = ..., requester: _Optional[str] = ...) -> None: ...

class AttachmentChunk(_message.Message):
    __slots__ = ("data", "size", "content_type")
    DATA_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    size: int
    content_type: str
    def __init__(self, data: _Optional[bytes] = ..., size: _Optional[int] = ..., content_type: _Optional[str] = ...) -> None: ...
