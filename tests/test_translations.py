"""The translation catalogs: present for every language, compiled from the
current .po files, complete in Polish and Romanian, with the placeholders and
markup of the English source, and used by the pages.

Pure Python (no GNU gettext needed): the .po files are read by the small
parser below and the .mo files by the standard library's ``gettext``.
"""

from __future__ import annotations

import ast
import contextlib
import gettext as gnu_gettext
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from loyalty.exceptions import ExternalIdConflict, InsufficientPoints, NotAllowed
from members.exceptions import DuplicateMember

LOCALE = Path(settings.BASE_DIR) / "locale"
# What the README's makemessages command reads (it ignores the rest).
SOURCE_DIRS = ["config", "members", "loyalty", "rewards", "analytics", "templates"]
LANGUAGES = [code for code, _name in settings.LANGUAGES]
TRANSLATED = [code for code in LANGUAGES if code != "en"]  # the source language needs no msgstr


@dataclass
class Entry:
    msgid: str
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def sources(self) -> list[str]:
        return [self.msgid] if self.msgid_plural is None else [self.msgid, self.msgid_plural]


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (obsolete ``#~`` entries are ignored)."""
    entries: list[Entry] = []
    entry: Entry | None = None
    flags: set[str] = set()
    target: tuple[str, int] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("#,"):
            flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith('"'):
            assert entry is not None and target is not None, f"{path}:{number}: continuation without a keyword"
            _append(entry, target, ast.literal_eval(line))
            continue
        keyword, _space, value = line.partition(" ")
        text = ast.literal_eval(value)
        if keyword in ("msgctxt", "msgid") and (entry is None or entry.msgstr):
            entry = Entry(msgid="", flags=flags, line=number)
            entries.append(entry)
            flags = set()
        assert entry is not None, f"{path}:{number}: {keyword} before msgid"
        match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
        target = ("msgstr", int(match.group(1))) if match else (keyword, 0)
        if target[0] == "msgstr":
            entry.msgstr[target[1]] = ""
        elif keyword == "msgid_plural":
            entry.msgid_plural = ""
        _append(entry, target, text)
    return entries


def _append(entry: Entry, target: tuple[str, int], text: str) -> None:
    name, index = target
    if name == "msgstr":
        entry.msgstr[index] += text
    elif name == "msgid":
        entry.msgid += text
    elif name == "msgid_plural":
        entry.msgid_plural = (entry.msgid_plural or "") + text
    elif name == "msgctxt":
        entry.msgctxt = (entry.msgctxt or "") + text
    else:
        raise AssertionError(f"unknown keyword {name}")


def catalog(language: str) -> tuple[Entry, list[Entry]]:
    entries = read_po(LOCALE / language / "LC_MESSAGES" / "django.po")
    header = entries[0]
    assert header.msgid == "", "the header comes first"
    return header, entries[1:]


def nplurals(header: Entry) -> int:
    match = re.search(r"nplurals=(\d+);", header.msgstr[0])
    assert match, "the header states Plural-Forms"
    return int(match.group(1))


PLACEHOLDER = re.compile(
    r"%\((?P<name>\w+)\)[#0\- +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]"  # %(name)s, %(points)+d, %(seconds).0f
    r"|%[#0\- +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]"  # an unnamed one: must never appear
    r"|\{[^{}\s]*\}"  # {name} (str.format)
)
TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def placeholders(text: str) -> set[str]:
    """Every placeholder of ``text`` as written (``%(points)+d``, ``{name}``); ``%%`` is a percent sign."""
    return {match.group(0) for match in PLACEHOLDER.finditer(text.replace("%%", ""))}


# -- the files ---------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_has_a_catalog_and_its_compiled_file(language):
    folder = LOCALE / language / "LC_MESSAGES"
    assert (folder / "django.po").is_file()
    assert (folder / "django.mo").is_file()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_is_up_to_date_with_the_po_file(language):
    """Every translation of the .po is in the .mo with the same text, and the
    .mo has nothing else: a .po edited without compilemessages fails here."""
    header, entries = catalog(language)
    with open(LOCALE / language / "LC_MESSAGES" / "django.mo", "rb") as handle:
        compiled = gnu_gettext.GNUTranslations(handle)
    expected: dict[object, str] = {}
    for entry in entries:
        if "fuzzy" in entry.flags or not all(entry.msgstr.values()):
            continue  # msgfmt leaves these out
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            expected[key] = entry.msgstr[0]
        else:
            expected.update({(key, index): text for index, text in entry.msgstr.items()})
    found = {key: text for key, text in compiled._catalog.items() if key != ""}
    assert found == expected
    assert compiled.info().get("plural-forms", "").startswith(f"nplurals={nplurals(header)};")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_header_is_final_and_declares_utf8_and_plural_forms(language):
    header, _entries = catalog(language)
    assert "fuzzy" not in header.flags  # msgfmt would drop a fuzzy header, plural forms and all
    assert "charset=UTF-8" in header.msgstr[0]
    assert f"Language: {language}\n" in header.msgstr[0]
    assert nplurals(header) == {"en": 2, "pl": 3, "ro": 3}[language]


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_is_translated_and_none_is_fuzzy(language):
    header, entries = catalog(language)
    forms = nplurals(header)
    untranslated = [e.msgid for e in entries if not all(e.msgstr.values())]
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    wrong_forms = [e.msgid for e in entries if e.msgid_plural is not None and sorted(e.msgstr) != list(range(forms))]
    assert entries, "the catalog is not empty"
    assert untranslated == []
    assert fuzzy == []
    assert wrong_forms == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_are_named_and_kept_in_every_translation(language):
    _header, entries = catalog(language)
    problems = []
    for entry in entries:
        wanted = placeholders(entry.msgid)
        unnamed = [p for p in wanted if p.startswith("%") and not p.startswith("%(")]
        if unnamed:
            problems.append((entry.msgid, "unnamed placeholder", unnamed))
        if entry.msgid_plural is not None and placeholders(entry.msgid_plural) != wanted:
            problems.append((entry.msgid, "plural differs from singular", entry.msgid_plural))
        if "python-format" not in entry.flags and any(p.startswith("%(") for p in wanted):
            problems.append((entry.msgid, "not flagged python-format", None))
        for index, text in entry.msgstr.items():
            if text and placeholders(text) != wanted:
                problems.append((entry.msgid, index, text))
    assert problems == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_markup_is_kept_in_every_translation(language):
    _header, entries = catalog(language)
    problems = [
        (entry.msgid, text)
        for entry in entries
        for text in entry.msgstr.values()
        if sorted(TAG.findall(text)) != sorted(TAG.findall(entry.msgid))
    ]
    assert problems == []


# -- the catalogs in use -----------------------------------------------------------


NAVIGATION = ["Members", "Dashboard", "Till", "Points you can use"]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", NAVIGATION),
        ("pl", ["Uczestnicy", "Pulpit", "Kasa", "Punkty do wykorzystania"]),
        ("ro", ["Membri", "Panou de control", "Casă", "Puncte pe care le puteți folosi"]),
    ],
)
def test_navigation_labels_follow_the_active_language(language, expected):
    with translation.override(language):
        assert [translation.gettext(source) for source in NAVIGATION] == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "You need 100 points; you have 5."),
        ("pl", "Potrzebne punkty: 100; dostępne punkty: 5."),
        ("ro", "Puncte necesare: 100; puncte disponibile: 5."),
    ],
)
def test_domain_errors_speak_the_active_language(language, expected):
    with translation.override(language):
        assert InsufficientPoints(needed=100, available=5).message == expected


def test_errors_that_name_a_thing_use_a_whole_translated_sentence():
    """No English word is interpolated into a Polish or Romanian message."""
    with translation.override("pl"):
        assert DuplicateMember(field="email", field_name="email", card="1").message == (
            "Uczestnik z tym adresem e-mail już istnieje (karta 1)."
        )
        assert ExternalIdConflict(external_id="R-1", what="refund").message.startswith(
            "Identyfikator zewnętrzny R-1 został już użyty dla innego zwrotu;"
        )
        assert NotAllowed(action="adjust points").message == "Nie masz uprawnień do korygowania punktów."
    with translation.override("ro"):
        assert NotAllowed(action="adjust points").message == "Nu aveți permisiunea să ajustați punctele."
    # The API keeps the stable English parameters.
    assert ExternalIdConflict(external_id="R-1", what="refund").params == {"external_id": "R-1", "what": "refund"}


@pytest.mark.parametrize(
    ("language", "count", "expected"),
    [
        ("pl", 1, "1 punkt"), ("pl", 3, "3 punkty"), ("pl", 5, "5 punktów"), ("pl", 12, "12 punktów"),
        ("pl", 22, "22 punkty"), ("pl", 25, "25 punktów"),
        ("ro", 1, "1 punct"), ("ro", 2, "2 puncte"), ("ro", 19, "19 puncte"), ("ro", 20, "20 de puncte"),
        ("ro", 101, "101 puncte"), ("ro", 120, "120 de puncte"),
    ],
)
def test_counts_take_the_plural_form_of_the_language(language, count, expected):
    with translation.override(language):
        text = translation.ngettext("%(points)s point", "%(points)s points", count) % {"points": count}
    assert text == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "how", "expected"),
    [
        ("pl", "header", ["Przejdź do treści głównej", "Język", "Zaloguj"]),
        ("pl", "cookie", ["Przejdź do treści głównej", "Język"]),
        ("ro", "cookie", ["Salt la conținutul principal", "Limbă"]),
    ],
)
def test_the_login_page_renders_in_the_visitors_language(client, language, how, expected):
    if how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        response = client.get(reverse("account_login"))
    else:
        response = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE=f"{language},en;q=0.5")
    content = response.content.decode()
    assert response.status_code == 200
    assert f'<html lang="{language}">' in content
    for text in expected:
        assert text in content
    assert "Skip to main content" not in content


@pytest.mark.django_db
def test_the_language_switcher_changes_the_language_of_the_pages(client):
    response = client.post(reverse("set_language"), {"language": "ro", "next": reverse("account_login")})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert '<html lang="ro">' in page
    assert "Salt la conținutul principal" in page


def test_the_catalogs_hold_every_message_of_the_code(tmp_path, settings):
    """``makemessages`` run now finds no message that the committed catalog lacks
    (a new string that nobody extracted would stay English in every language)."""
    if shutil.which("xgettext") is None:
        if os.environ.get("REQUIRE_GETTEXT") == "1":
            pytest.fail("GNU gettext is missing (apt-get install gettext)")
        pytest.skip("needs GNU gettext (xgettext); CI installs it")
    # makemessages writes beside the first locale/ it finds: run it in a copy
    # of the tree made of links to the source, with no locale/ in it.
    tree, out = tmp_path / "tree", tmp_path / "out"
    tree.mkdir()
    for source in SOURCE_DIRS:
        (tree / source).symlink_to(Path(settings.BASE_DIR) / source)
    settings.LOCALE_PATHS = [out]
    with contextlib.chdir(tree):
        call_command("makemessages", locale=["en"], symlinks=True, verbosity=0)
    extracted = {(entry.msgctxt, entry.msgid) for entry in read_po(out / "en" / "LC_MESSAGES" / "django.po")}
    for language in LANGUAGES:
        _header, entries = catalog(language)
        committed = {(entry.msgctxt, entry.msgid) for entry in entries}
        missing = sorted(msgid for _context, msgid in extracted - committed if msgid)
        assert missing == [], f"{language}: run makemessages (README, Translations) and translate the new entries"
