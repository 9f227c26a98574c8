"""change_contact (通讯录变更): members created, updated, deleted (M1, M5)."""

from __future__ import annotations

from handlers.base import Fields, handles, wecom_time
from policies.base import MembershipChange, MembershipScope

# Fields worth keeping when present; post-2022 apps often get only UserID and Department.
_DETAIL_FIELDS = ("NewUserID", "Name", "Department", "MainDepartment", "Status", "Alias", "Id")


@handles("event", "change_contact")
def handle_change_contact(fields: Fields) -> MembershipChange:
    user = fields.get("UserID")
    return MembershipChange(
        scope=MembershipScope.DIRECTORY,
        change=str(fields.get("ChangeType") or "unknown"),
        at=wecom_time(fields.get("CreateTime")) or fields["_received_at"],
        user_ids=(str(user),) if user else (),
        detail={k: fields[k] for k in _DETAIL_FIELDS if fields.get(k) not in (None, "")},
    )
