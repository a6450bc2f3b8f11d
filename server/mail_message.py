"""Appointment emails: the message and its iCalendar (.ics) attachment, in the clinic's time zone. Pure.

One calendar event per appointment (UID `appointment-<id>@<clinic domain>`), so a calendar program
updates the entry it already holds when a move or a cancel arrives (SEQUENCE = the appointment's
version; a cancel is METHOD:CANCEL / STATUS:CANCELLED).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone

__all__ = ["AppointmentMail", "build_ics", "build_message"]


@dataclass(frozen=True)
class AppointmentMail:
    """What one email says. `kind`: booked | moved | cancelled | reminder."""

    kind: str
    appointment_id: int
    sequence: int
    recipient: str
    sender: str
    clinic_name: str
    timezone: str
    patient_name: str
    dentist_name: str
    type_name: str
    start: datetime
    end: datetime
    previous_start: datetime | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def when(self, instant: datetime) -> str:
        local = instant.astimezone(self.zone)
        return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}"

    @property
    def summary(self) -> str:
        return f"{self.type_name} with {self.dentist_name} — {self.clinic_name}"

    @property
    def subject(self) -> str:
        when = self.when(self.start)
        return {
            "booked": f"Appointment booked: {self.type_name} on {when}",
            "moved": f"Appointment moved: {self.type_name} now on {when}",
            "cancelled": f"Appointment cancelled: {self.type_name} on {when}",
            "reminder": f"Reminder: {self.type_name} on {when}",
        }[self.kind]

    def body(self) -> str:
        when = self.when(self.start)
        lines = [f"Dear {self.patient_name},", ""]
        if self.kind == "booked":
            lines.append(f"Your {self.type_name.lower()} with {self.dentist_name} is booked for {when}.")
        elif self.kind == "moved":
            was = f" (it was {self.when(self.previous_start)})" if self.previous_start else ""
            lines.append(f"Your {self.type_name.lower()} with {self.dentist_name} has moved to {when}{was}.")
        elif self.kind == "cancelled":
            lines.append(f"Your {self.type_name.lower()} with {self.dentist_name} on {when} has been cancelled.")
        else:
            lines.append(f"A reminder: your {self.type_name.lower()} with {self.dentist_name} is on {when}.")
        if self.kind != "cancelled":
            lines += ["", ("The attached calendar entry adds it to your calendar. If you cannot come, please let us "
                           "know as early as you can.")]
        lines += ["", f"{self.clinic_name}", f"(Times are {self.timezone} time.)"]
        return "\n".join(lines) + "\n"


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "localhost"


def build_ics(mail: AppointmentMail, *, stamp: datetime) -> bytes:
    """The VCALENDAR of the appointment, with a VTIMEZONE for the clinic's zone and local DTSTART/DTEND."""
    zone = mail.zone
    cal = Calendar()
    cal.add("prodid", "-//DentalCare Connect//Appointments//EN")
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if mail.kind == "cancelled" else "PUBLISH")
    cal.add_component(Timezone.from_tzinfo(zone, first_date=mail.start.astimezone(zone).date()))
    event = Event()
    event.add("uid", f"appointment-{mail.appointment_id}@{_domain(mail.sender)}")
    event.add("dtstamp", stamp)
    event.add("dtstart", mail.start.astimezone(zone))
    event.add("dtend", mail.end.astimezone(zone))
    event.add("summary", mail.summary)
    event.add("location", mail.clinic_name)
    event.add("sequence", mail.sequence)
    event.add("status", "CANCELLED" if mail.kind == "cancelled" else "CONFIRMED")
    cal.add_component(event)
    return cal.to_ical()


def build_message(mail: AppointmentMail, *, stamp: datetime) -> EmailMessage:
    """The email: a plain-text body and the .ics attachment."""
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain=_domain(mail.sender))
    message.set_content(mail.body())
    method = "CANCEL" if mail.kind == "cancelled" else "PUBLISH"
    message.add_attachment(build_ics(mail, stamp=stamp), maintype="text", subtype="calendar",
                           filename="appointment.ics", params={"method": method})
    return message
