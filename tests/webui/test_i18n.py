"""Message catalogues: every UI string has an English translation and the committed .mo matches the .po."""

import io
import subprocess
import sys

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from runner.config import ROOT

TRANSLATIONS = ROOT / "webui" / "translations"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo"


def _catalog_messages(catalog) -> dict:
    return {m.id: m.string for m in catalog if m.id}


def _po(path):
    with path.open("rb") as f:
        return read_po(f)


def test_every_message_in_the_templates_and_views_is_translated(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
                    "--no-location", "-o", str(pot), "."], check=True, cwd=ROOT, capture_output=True)
    wanted = {m.id for m in _po(pot) if m.id}
    english = _catalog_messages(_po(PO))
    missing = sorted(wanted - {k for k, v in english.items() if v})
    assert not missing, f"untranslated (run the commands in babel.cfg): {missing}"


def test_compiled_catalogue_matches_the_po_file():
    po = _catalog_messages(_po(PO))
    mo = _catalog_messages(read_mo(io.BytesIO(MO.read_bytes())))
    assert po == mo, "recompile: pybabel compile -d webui/translations"
