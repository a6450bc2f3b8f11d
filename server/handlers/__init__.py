"""RPC method handlers, one module per namespace: validate params, authorise, ask the booking rules, write.

Each handler takes the connection's session and a params model and returns the JSON result. Writes run
in one short transaction; the database's exclusion constraints are the final word on double booking,
and their violation is reported as `slot_unavailable`. Authorisation goes through `common._require`.
"""

from __future__ import annotations

from typing import Any

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
from .patients import (
    PatientCreateParams,
    PatientSearchParams,
    patients_create,
    patients_search,
)
from .sync import SubscribeParams, directory_get

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
    "assistant.message": (assistant_message, AssistantParams),
}
PUBLIC_METHODS = frozenset({"auth.login", "auth.resume", "auth.refresh"})
WRITE_METHODS = frozenset({"appointments.create", "appointments.update", "appointments.cancel", "availability.set",
                           "exceptions.add", "exceptions.delete", "patients.create"})
# No method answers `internal` for a lock race or a lock wait; the writes re-run a lost race first.
METHODS = {name: (_db_races_handled(handler, retry=name in WRITE_METHODS), model)
           for name, (handler, model) in METHODS.items()}
