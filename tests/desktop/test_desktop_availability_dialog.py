"""Dentists' hours: weekly lines parse into availability.set; days off go through exceptions.add/delete."""

from __future__ import annotations

import pytest

from clinic_desktop.admin.availability_dialog import AvailabilityDialog, parse_day_hours
from qt_async import until
from scripted_server import ScriptedServer
from scripted_windows import open_scripted_window


def test_day_hours_parse_and_reject_nonsense() -> None:
    """"09:00-12:00, 13:00-17:00" is two intervals; an empty line is a day off; backwards times are refused."""
    assert parse_day_hours("13:00-17:00, 9:00-12:00") == [("09:00", "12:00"), ("13:00", "17:00")]
    assert parse_day_hours("  ") == []
    with pytest.raises(ValueError):
        parse_day_hours("17:00-09:00")
    with pytest.raises(ValueError):
        parse_day_hours("nine to five")


def test_saving_weekly_hours_and_adding_a_day_off(qt_async, qtbot) -> None:
    """The table shows the demo hours; edits are sent whole with availability.set; a day off is added."""
    server = ScriptedServer()

    async def scenario() -> None:
        await server.start()
        window = await open_scripted_window(server, "frontdesk", qtbot)
        dialog = AvailabilityDialog(window.session, window.operations, dentist_id=2, parent=window)
        dialog.show()
        assert dialog.weekly_table.item(0, 0).text() == "09:00-12:00, 13:00-17:00"
        assert dialog.weekly_table.item(5, 0).text() == ""
        dialog.weekly_table.item(4, 0).setText("09:00-13:00")
        dialog.weekly_table.item(2, 0).setText("9 till 5")
        dialog.save_button.click()
        assert "Wednesday" in dialog.message_label.text()
        assert "availability.set" not in server.methods()
        dialog.weekly_table.item(2, 0).setText("10:00-16:00")
        dialog.save_button.click()
        await until(lambda: dialog.message_label.text() == "Weekly hours saved.", what="save")
        sent = next(params for method, params in server.calls if method == "availability.set")
        assert sent["dentist_id"] == 2
        assert {"weekday": 4, "start": "09:00", "end": "13:00"} in sent["weekly"]
        assert {"weekday": 2, "start": "10:00", "end": "16:00"} in sent["weekly"]
        assert not any(entry["weekday"] in (5, 6) for entry in sent["weekly"]) and len(sent["weekly"]) == 8
        dialog.reason_edit.setText("Conference")
        dialog.add_button.click()
        await until(lambda: "exceptions.add" in server.methods(), what="exceptions.add")
        added = next(params for method, params in server.calls if method == "exceptions.add")
        assert added["kind"] == "closed" and added["reason"] == "Conference" and added["dentist_id"] == 2
        assert added["start"] < added["end"]
        dialog.close()
        await window.session.close()
        await server.stop()

    qt_async.run(scenario())
