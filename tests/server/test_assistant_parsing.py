"""Unit tests of the assistant's plain-words parsing (pure: no server, no database)."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from server.assistant.conversation import ConversationStore
from server.assistant.parsing import (
    detect_intent,
    is_no,
    is_yes,
    match_dentist,
    match_type,
    parse_choice,
    parse_when,
    split_move,
)

# Tuesday 24 November 2026, 09:30 clinic time.
NOW = datetime(2026, 11, 24, 9, 30)
DENTISTS = [{"id": 1, "name": "Dr Smith"}, {"id": 2, "name": "Dr Patel"}]
TYPES = [
    {"id": 1, "name": "Check-up", "duration_minutes": 30, "patient_bookable": True},
    {"id": 2, "name": "Cleaning", "duration_minutes": 45, "patient_bookable": True},
    {"id": 3, "name": "Filling", "duration_minutes": 60, "patient_bookable": True},
    {"id": 4, "name": "Root canal", "duration_minutes": 90, "patient_bookable": False},
]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("a cleaning with Dr Patel next Tuesday afternoon", "unknown"),
        ("I'd like to book a check-up", "book"),
        ("earliest check-up", "book"),
        ("something after 4pm on the 12th", "book"),
        ("move my Friday appointment to next week", "move"),
        ("can I reschedule my cleaning?", "move"),
        ("cancel my appointment tomorrow", "cancel"),
        ("when is my next appointment?", "list"),
        ("is Dr Smith free on Monday morning?", "availability"),
        ("help", "help"),
        ("hello", "greeting"),
        ("thanks!", "thanks"),
    ],
)
def test_detect_intent_reads_the_main_request(text: str, intent: str) -> None:
    """Each kind of request in the issue is recognised by its wording."""
    assert detect_intent(text) == intent


def test_weekday_with_part_of_day_is_one_afternoon() -> None:
    """"next Tuesday afternoon" on a Tuesday is the Tuesday a week later, from 12:00 to 17:00."""
    when = parse_when("a cleaning with Dr Patel next Tuesday afternoon", NOW)
    assert (when.start, when.end) == (date(2026, 12, 1), date(2026, 12, 1))
    assert (when.after, when.before) == (time(12), time(17))


def test_next_weekday_later_this_week_is_ambiguous() -> None:
    """"next Thursday" said on a Tuesday could mean in two days or in nine: both readings are kept."""
    when = parse_when("next thursday", NOW)
    assert when.start is None
    assert when.alternatives == (date(2026, 11, 26), date(2026, 12, 3))


def test_bare_weekday_is_the_next_one() -> None:
    """"on Friday" is the coming Friday; "Tuesday" said on a Tuesday is next week's."""
    assert parse_when("on friday", NOW).start == date(2026, 11, 27)
    assert parse_when("tuesday", NOW).start == date(2026, 12, 1)


def test_ordinal_day_is_never_in_the_past() -> None:
    """"the 12th" after the 12th of this month means next month's 12th (dateparser alone says the past one)."""
    when = parse_when("something after 4pm on the 12th", NOW)
    assert when.start == date(2026, 12, 12)
    assert when.after == time(16)


def test_next_week_is_monday_to_sunday() -> None:
    """"next week" covers the whole following calendar week."""
    when = parse_when("move it to next week", NOW)
    assert (when.start, when.end) == (date(2026, 11, 30), date(2026, 12, 6))


def test_relative_days_through_dateparser() -> None:
    """"tomorrow", "the day after tomorrow" and "in 3 days" are read relative to the clinic's now."""
    assert parse_when("tomorrow", NOW).start == date(2026, 11, 25)
    assert parse_when("the day after tomorrow", NOW).start == date(2026, 11, 26)
    assert parse_when("in 3 days", NOW).start == date(2026, 11, 27)


def test_month_names_prefer_the_future() -> None:
    """"3 jan" in November is next January; "December 12th" is this year's."""
    assert parse_when("3 jan", NOW).start == date(2027, 1, 3)
    assert parse_when("December 12th at 2pm", NOW).start == date(2026, 12, 12)
    assert parse_when("December 12th at 2pm", NOW).at == time(14)


def test_numeric_date_with_two_readings_is_ambiguous() -> None:
    """"04/12" is 4 December in the UK but 12 April in the US: the assistant asks."""
    when = parse_when("04/12", NOW)
    assert when.alternatives == (date(2026, 12, 4), date(2027, 4, 12))
    assert parse_when("25/12", NOW).start == date(2026, 12, 25)


@pytest.mark.parametrize(
    ("text", "after", "before", "at"),
    [
        ("after 4pm", time(16), None, None),
        ("after 4", time(16), None, None),
        ("before 11", None, time(11), None),
        ("at 10:30", None, None, time(10, 30)),
        ("10.30am", None, None, time(10, 30)),
        ("between 2 and 4pm", time(14), time(16), None),
        ("in the morning", None, time(12), None),
        ("evening", time(16), None, None),
        ("from noon", time(12), None, None),
    ],
)
def test_time_phrases(text: str, after: time | None, before: time | None, at: time | None) -> None:
    """Clock times and parts of the day become start-time bounds (bare 1-7 means pm)."""
    when = parse_when(text, NOW)
    assert (when.after, when.before, when.at) == (after, before, at)


def test_afternoon_is_not_after_noon_keyword() -> None:
    """The word "afternoon" is a part of day, not "after" + "noon"."""
    when = parse_when("afternoon", NOW)
    assert (when.after, when.before) == (time(12), time(17))


@pytest.mark.parametrize("text", ["Dr. Smith", "smith", "with dr smiht", "doctor SMITH please"])
def test_dentist_names_are_matched_forgivingly(text: str) -> None:
    """Titles, case, punctuation and small typos still find the dentist."""
    assert match_dentist(text, DENTISTS) == DENTISTS[0]


def test_common_words_do_not_match_a_dentist() -> None:
    """An ordinary sentence names no dentist."""
    assert match_dentist("I need a check-up next week please", DENTISTS) is None


@pytest.mark.parametrize(
    ("text", "type_id"),
    [
        ("the hygienist", 2),
        ("a cleaing", 2),
        ("scale and polish", 2),
        ("chekup", 1),
        ("check up", 1),
        ("filing", 3),
        ("I have a cavity", 3),
        ("root canal please", 4),
    ],
)
def test_type_names_synonyms_and_typos(text: str, type_id: int) -> None:
    """Treatment types are found by name, by what people call them, and through typos."""
    found = match_type(text, TYPES)
    assert found is not None and found["id"] == type_id


def test_no_type_in_something() -> None:
    """"something after 4pm" names no treatment type, so the assistant must ask."""
    assert match_type("something after 4pm on the 12th", TYPES) is None


STARTS = [datetime(2026, 12, 1, 10, 30), datetime(2026, 12, 1, 11, 0), datetime(2026, 12, 1, 14, 0)]


@pytest.mark.parametrize(
    ("text", "index"),
    [("2", 1), ("book option 2", 1), ("the second one", 1), ("10:30", 0), ("2pm", 2), ("last one", 2),
     ("yes please, the third", 2), ("I'll take 1", 0)],
)
def test_choices_pick_one_offered_slot(text: str, index: int) -> None:
    """Numbers, ordinals and times pick exactly one offered slot."""
    choice = parse_choice(text, STARTS, [1, 1, 2], DENTISTS)
    assert choice is not None and choice.index == index


def test_bare_yes_with_several_options_asks_which() -> None:
    """"yes" with three options on the table is not a pick: the assistant asks which one."""
    choice = parse_choice("yes", STARTS, [1, 1, 2], DENTISTS)
    assert choice is not None and choice.index is None and choice.ambiguous == (0, 1, 2)
    single = parse_choice("yes", STARTS[:1], [1], DENTISTS)
    assert single is not None and single.index == 0


def test_unoffered_number_or_new_request_is_not_a_pick() -> None:
    """"option 7", "12:15" and "cancel my appointment" are not picks among three offers."""
    for text in ("option 7", "12:15", "cancel my appointment"):
        assert parse_choice(text, STARTS, [1, 1, 2], DENTISTS) is None


def test_yes_and_no() -> None:
    """Confirmations and refusals in everyday words."""
    assert is_yes("Yes please") and is_yes("ok") and is_yes("go ahead")
    assert is_no("no thanks") and is_no("none of those")
    assert not is_yes("no") and not is_no("yes")


def test_split_move_separates_source_and_target() -> None:
    """"move my Friday appointment to next week" -> which appointment, and where to."""
    assert split_move("move my Friday appointment to next week") == ("move my friday appointment", "next week")


def test_conversations_belong_to_their_owner_and_expire() -> None:
    """Another user's conversation id starts a fresh conversation; idle ones expire; the count is bounded."""
    store = ConversationStore(max_idle_seconds=10, max_count=3)
    mine = store.get_or_create(None, owner_id=1, now=0)
    assert store.get_or_create(mine.id, owner_id=1, now=5) is mine
    theirs = store.get_or_create(mine.id, owner_id=2, now=6)
    assert theirs is not mine and theirs.id != mine.id
    assert store.get_or_create(mine.id, owner_id=1, now=30).id != mine.id  # expired after 10 s idle
    for i in range(5):
        store.get_or_create(None, owner_id=i, now=31)
    assert len(store) == 3


def test_open_ranges_from_and_before_a_day() -> None:
    """"after 3 December" starts the next day, "from Monday" that Monday, "before Friday" ends the day before."""
    after = parse_when("earliest filling after 3 December", NOW)
    assert (after.start, after.end) == (date(2026, 12, 4), date(2026, 12, 17))
    assert parse_when("from monday", NOW).start == date(2026, 11, 30)
    before = parse_when("before friday", NOW)
    assert (before.start, before.end) == (date(2026, 11, 24), date(2026, 11, 26))


def test_what_about_is_not_around() -> None:
    """"what about 4pm?" asks for 16:00 exactly; "around 4pm" is the hour either side."""
    assert parse_when("what about 4pm?", NOW).at == time(16)
    around = parse_when("around 4pm", NOW)
    assert (around.after, around.at) == (time(15), None)
