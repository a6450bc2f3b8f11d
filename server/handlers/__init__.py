"""RPC method handlers, one module per namespace: validate params, authorise, ask the booking rules, write.

Each handler takes the connection's session and a params model and returns the JSON result. Writes run
in one short transaction; the database's exclusion constraints are the final word on double booking,
and their violation is reported as `slot_unavailable`. Authorisation goes through `common._require`.
"""

from __future__ import annotations

from typing import Any

from .appointment_types import (
    TypeCreateParams,
    TypeUpdateParams,
    appointment_types_create,
    appointment_types_update,
)
from .appointments import (
    CancelParams,
    CreateParams,
    ListParams,
    UpdateParams,
    appointments_cancel,
    appointments_create,
    appointments_list,
    appointments_update,
)
from .assistant import AssistantParams, assistant_message
from .auth import (
    ChangePasswordParams,
    LoginParams,
    RefreshParams,
    ResumeParams,
    auth_change_password,
    auth_login,
    auth_logout,
    auth_refresh,
    auth_resume,
)
from .availability import (
    AvailabilityParams,
    ExceptionAddParams,
    SlotsParams,
    availability_set,
    exceptions_add,
    exceptions_delete,
    slots_find,
)
from .common import IdParams, NoParams, Params, _db_races_handled
from .lists import (
    ConfirmationsParams,
    ConfirmParams,
    RecallParams,
    ResolveParams,
    UnscheduledParams,
    lists_confirm,
    lists_confirmations,
    lists_recall,
    lists_unscheduled,
    lists_unscheduled_resolve,
)
from .patients import (
    PatientCreateParams,
    PatientHistoryParams,
    PatientMergeParams,
    PatientSearchParams,
    PatientUpdateParams,
    patients_create,
    patients_get,
    patients_history,
    patients_merge,
    patients_search,
    patients_update,
)
from .schedule import (
    BlockoutAddParams,
    ChairCreateParams,
    ChairUpdateParams,
    DefaultChairParams,
    blockouts_add,
    blockouts_delete,
    chairs_create,
    chairs_update,
    dentists_set_default_chair,
)
from .sync import SubscribeParams, directory_get
from .waitlist import (
    OfferParams,
    WaitlistAddParams,
    WaitlistRemoveParams,
    waitlist_accept,
    waitlist_add,
    waitlist_decline,
    waitlist_remove,
)

__all__ = ["METHODS", "PUBLIC_METHODS", "WRITE_METHODS", "SubscribeParams"]

# method name -> (handler, params model)
METHODS: dict[str, tuple[Any, type[Params]]] = {
    "auth.login": (auth_login, LoginParams),
    "auth.resume": (auth_resume, ResumeParams),
    "auth.refresh": (auth_refresh, RefreshParams),
    "auth.logout": (auth_logout, NoParams),
    "auth.change_password": (auth_change_password, ChangePasswordParams),
    "directory.get": (directory_get, NoParams),
    "slots.find": (slots_find, SlotsParams),
    "appointments.list": (appointments_list, ListParams),
    "appointments.create": (appointments_create, CreateParams),
    "appointments.update": (appointments_update, UpdateParams),
    "appointments.cancel": (appointments_cancel, CancelParams),
    "availability.set": (availability_set, AvailabilityParams),
    "exceptions.add": (exceptions_add, ExceptionAddParams),
    "exceptions.delete": (exceptions_delete, IdParams),
    "patients.search": (patients_search, PatientSearchParams),
    "patients.create": (patients_create, PatientCreateParams),
    "patients.get": (patients_get, IdParams),
    "patients.update": (patients_update, PatientUpdateParams),
    "patients.history": (patients_history, PatientHistoryParams),
    "patients.merge": (patients_merge, PatientMergeParams),
    "lists.unscheduled": (lists_unscheduled, UnscheduledParams),
    "lists.unscheduled_resolve": (lists_unscheduled_resolve, ResolveParams),
    "lists.confirmations": (lists_confirmations, ConfirmationsParams),
    "lists.confirm": (lists_confirm, ConfirmParams),
    "lists.recall": (lists_recall, RecallParams),
    "assistant.message": (assistant_message, AssistantParams),
    "waitlist.add": (waitlist_add, WaitlistAddParams),
    "waitlist.remove": (waitlist_remove, WaitlistRemoveParams),
    "waitlist.accept": (waitlist_accept, OfferParams),
    "waitlist.decline": (waitlist_decline, OfferParams),
    "chairs.create": (chairs_create, ChairCreateParams),
    "chairs.update": (chairs_update, ChairUpdateParams),
    "appointment_types.create": (appointment_types_create, TypeCreateParams),
    "appointment_types.update": (appointment_types_update, TypeUpdateParams),
    "dentists.set_default_chair": (dentists_set_default_chair, DefaultChairParams),
    "blockouts.add": (blockouts_add, BlockoutAddParams),
    "blockouts.delete": (blockouts_delete, IdParams),
}
PUBLIC_METHODS = frozenset({"auth.login", "auth.resume", "auth.refresh"})
WRITE_METHODS = frozenset({"appointments.create", "appointments.update", "appointments.cancel", "availability.set",
                           "exceptions.add", "exceptions.delete", "patients.create",
                           "chairs.create", "chairs.update", "dentists.set_default_chair", "blockouts.add",
                           "blockouts.delete", "appointment_types.create", "appointment_types.update",
                           "patients.update", "patients.merge", "lists.unscheduled_resolve", "lists.confirm",
                           "waitlist.add", "waitlist.remove", "waitlist.accept", "waitlist.decline"})
# No method answers `internal` for a lock race or a lock wait; the writes re-run a lost race first.
METHODS = {name: (_db_races_handled(handler, retry=name in WRITE_METHODS), model)
           for name, (handler, model) in METHODS.items()}
