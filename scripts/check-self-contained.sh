#!/usr/bin/env bash
# Fails when a tracked file refers to something outside the repository: the reading room beside
# it (`../shared`, `shared/data`, `shared/docs`), the design documents that live there
# (MODELS.md, DOMAIN.md, DESIGN.md, …) or an absolute path on a developer's machine. Also fails
# when a code comment cites an issue number instead of a publication or a `docs/` file.
# A clone with nothing beside it must build, test and document itself (testdata/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

self=scripts/check-self-contained.sh
outside='(\.\./shared|shared/data|shared/docs|\bMODELS\.md|\bDOMAIN\.md|\bDESIGN\.md|\bSTYLE\.md|\bTOOLCHAIN\.md|MODEL-LANGUAGES\.md|/work/|/home/[a-z])'
status=0
if git grep -n -I -E "$outside" -- ":!$self"; then
    echo "error: the lines above refer to files outside the repository; copy what is read into" >&2
    echo "testdata/ (with its source and licence in testdata/README.md) or cite docs/ instead" >&2
    status=1
fi
issue_cite='\b[Ii]ssues? #?[0-9]+'
if git grep -n -I -E "$issue_cite" -- '*.rs' '*.sh' '*.mjs' '*.js' '*.toml' '*.py' ":!$self"; then
    echo "error: the lines above cite an issue number; cite the publication, a docs/ file or" >&2
    echo "benches/README.md instead" >&2
    status=1
fi
if [ "$status" -eq 0 ]; then
    echo "no tracked file refers to a path outside the repository or to an issue number"
fi
exit "$status"
