"""The compiled translations (``*.mo``) the pages read, made from the committed ``*.po``.

``make run`` compiles them; a server started any other way (a fresh clone under test, a
``casework serve`` without make) compiles a catalogue that is missing or older than its
source when the app is built. Each is written to a temporary file and renamed, so several
workers starting at once never read half a file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)


def compile_stale(directory: Path) -> list[Path]:
    """Compile every ``<lang>/LC_MESSAGES/messages.po`` whose ``.mo`` is missing or older.

    Returns the catalogues compiled. A folder that cannot be written is reported in the
    log and the pages fall back to English for that language."""
    compiled = []
    for po in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        try:
            if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                continue
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=po.parent.parent.name)
            tmp = mo.with_name(f".{mo.name}.{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                write_mo(fh, catalog)
            os.replace(tmp, mo)
        except OSError as exc:
            log.warning("could not compile the translations in %s: %s", po, exc)
            continue
        compiled.append(mo)
    return compiled
