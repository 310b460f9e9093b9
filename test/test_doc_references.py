"""Every repository path, dotted module name and bare module file name in the docstrings, comments and markdown
docs resolves (the rules are in test/doc_references.py)."""
from doc_references import unresolved

# TEMPORARY (issue 24): stale names in files being rewritten elsewhere; empty this set once they are fixed.
KNOWN_STALE: set[tuple[str, str]] = set()
"""(file, reference) pairs known not to resolve: none."""


def test_every_reference_resolves_and_known_stale_lists_only_stale_ones():
    bad = unresolved()
    found = {(ref.source, ref.text) for ref, _ in bad}
    new = [f"{ref} ({why})" for ref, why in bad if (ref.source, ref.text) not in KNOWN_STALE]
    assert not new, "references that do not resolve:\n" + "\n".join(new)
    fixed = sorted(KNOWN_STALE - found)
    assert not fixed, f"resolved now, remove from KNOWN_STALE: {fixed}"
