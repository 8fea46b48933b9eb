"""The one error type for bad user input.

Everything a user can get wrong (a file, a field, a flag) raises `InputError`; the CLI turns it
into a single line on stderr and exit status 2, with no traceback.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input, located as precisely as we can: file, line (1-based record number), field.

    >>> str(InputError("bad label", path="a.jsonl", line=3, field="labels[1]"))
    'a.jsonl:3: field labels[1]: bad label'
    >>> str(InputError("unknown format 'x'"))
    "unknown format 'x'"
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.message, self.path, self.line, self.field = message, path, line, field
        where = ""
        if path is not None:
            where = str(path) + (f":{line}" if line is not None else "") + ": "
        if field is not None:
            where += f"field {field}: "
        super().__init__(where + message)
