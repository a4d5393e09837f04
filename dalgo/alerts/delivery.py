"""Recording alerts as notifications, and delivering their mails.

Delivery is claim-then-send, one mail at a time:

1. An alert is recorded in one transaction with its marker: one `Notification` per recipient,
   with `mail_status = pending` (or `off` for a recipient who opted out).
2. A sender claims a pending mail with a conditional UPDATE (it succeeds only if the mail is still
   pending and unclaimed, or its claim is older than the retry window), sends it, then marks it
   `sent`. Two senders at once: only one claim succeeds. A sender that dies between claim and send
   leaves a stale claim, taken again after `DALGO_MAIL_RETRY_MINUTES`: the mail is late, not lost.
3. A mail the server could not take releases its claim for the next round (the notifier runs
   every minute). When the server is unavailable (not listening, a 4xx "try later", a refused
   sender or login) the round stops there: the other mails are not tried against a server that
   is down, and each waits, pending, until the server is back, for up to
   `DALGO_MAIL_GIVE_UP_HOURS` after its alert. Only a mail the server refused for good (a 5xx
   answer to its recipient or content) is given up after `MAX_MAIL_ATTEMPTS` tries. A mail given
   up is `failed`; its in-app notification stays.

The one window left is a sender dying after the mail server took the mail and before the row says
`sent`: then the mail is sent again after the retry window. SMTP offers no way to close it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, or_, update
from sqlmodel import Session, col, select

from dalgo.db.columns import utcnow
from dalgo.db.models import User
from dalgo.db.notification_models import (
    MAIL_FAILED,
    MAIL_OFF,
    MAIL_PENDING,
    MAIL_SENT,
    Notification,
)
from dalgo.mail import Mailer, MailError

log = logging.getLogger(__name__)

MAX_MAIL_ATTEMPTS = 5
BATCH = 500


@dataclass(frozen=True)
class Recipient:
    """A user to notify, and whether they get a mail too."""

    user_id: uuid.UUID
    email: str
    mail: bool


@dataclass(frozen=True)
class Message:
    """What an alert says: the same text in the app and in the mail."""

    kind: str
    subject: str
    body: str
    link: str | None = None
    flow_run_id: uuid.UUID | None = None
    org_id: uuid.UUID | None = None


def add_notifications(session: Session, recipients: Iterable[Recipient], message: Message) -> int:
    """Add one notification per recipient to the session (the caller commits, with its marker)."""
    count = 0
    for recipient in recipients:
        session.add(
            Notification(
                user_id=recipient.user_id,
                org_id=message.org_id,
                kind=message.kind,
                subject=message.subject[:300],
                body=message.body,
                link=message.link,
                flow_run_id=message.flow_run_id,
                mail_status=MAIL_PENDING if recipient.mail else MAIL_OFF,
            )
        )
        count += 1
    return count


@dataclass
class DeliveryReport:
    """What one delivery round did."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


def _claimable(now: datetime, retry_after: timedelta) -> list[ColumnElement[bool]]:
    return [
        col(Notification.mail_status) == MAIL_PENDING,
        or_(
            col(Notification.mail_claimed_at).is_(None),
            col(Notification.mail_claimed_at) < now - retry_after,
        ),
    ]


def claim(engine: Engine, notification_id: uuid.UUID, retry_after: timedelta) -> bool:
    """Take the mail of a notification on; False when another sender has it or it is done."""
    now = utcnow()
    with Session(engine) as session:
        result = session.exec(
            update(Notification)
            .where(col(Notification.id) == notification_id, *_claimable(now, retry_after))
            .values(mail_claimed_at=now, mail_attempts=col(Notification.mail_attempts) + 1)
        )
        session.commit()
        return bool(result.rowcount == 1)


def _finish(engine: Engine, notification_id: uuid.UUID, **values: object) -> None:
    with Session(engine) as session:
        session.exec(update(Notification).where(col(Notification.id) == notification_id).values(**values))
        session.commit()


def deliver_pending(
    engine: Engine, mailer: Mailer, retry_after: timedelta, give_up_after: timedelta = timedelta(days=1)
) -> DeliveryReport:
    """Send every pending mail that no live sender holds, each at most once per claim; stop at the
    first mail the server could not take for a reason that is not the mail's own (the server is
    unavailable: the rest wait, untouched, for the next round)."""
    report = DeliveryReport()
    now = utcnow()
    with Session(engine) as session:
        rows = session.exec(
            select(Notification, User.email, User.is_active)
            .join(User, col(User.id) == col(Notification.user_id))
            .where(*_claimable(now, retry_after))
            .order_by(col(Notification.created_at))
            .limit(BATCH)
        ).all()
    for index, (notification, email, active) in enumerate(rows):
        notification_id = notification.id
        if not claim(engine, notification_id, retry_after):
            continue
        if not active:
            _finish(engine, notification_id, mail_status=MAIL_OFF)
            continue
        try:
            mailer.send(email, notification.subject, notification.body)
        except MailError as error:
            _record_failure(engine, notification, report, error, now - give_up_after)
            if not error.permanent:
                report.deferred += len(rows) - index - 1
                break
            continue
        _finish(engine, notification_id, mail_status=MAIL_SENT, mailed_at=utcnow())
        report.sent += 1
    return report


def _record_failure(
    engine: Engine, notification: Notification, report: DeliveryReport, error: MailError, too_old: datetime
) -> None:
    """A mail the server did not take: try it again next round, or give it up when the server
    refused it for good `MAX_MAIL_ATTEMPTS` times, or when its alert is older than `too_old` and
    the server still could not take it."""
    with Session(engine) as session:
        row = session.get(Notification, notification.id)
        attempts = row.mail_attempts if row is not None else MAX_MAIL_ATTEMPTS
    log.warning("an alert mail was not taken (attempt %d): %s", attempts, error)
    report.errors.append(str(error))
    if (error.permanent and attempts >= MAX_MAIL_ATTEMPTS) or notification.created_at < too_old:
        _finish(engine, notification.id, mail_status=MAIL_FAILED)
        report.failed += 1
    else:
        _finish(engine, notification.id, mail_claimed_at=None)
        report.deferred += 1
