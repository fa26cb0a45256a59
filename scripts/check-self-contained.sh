#!/usr/bin/env bash
# Fails when a tracked file refers to something outside the repository: the reading-room folder
# beside it, the design documents that live there (their upper-case names) or an absolute path on
# a developer's machine. The patterns below use character classes so this file does not match
# itself. Also fails
# when a code comment cites an issue number instead of a publication or a `docs/` file.
# A clone with nothing beside it must build, test and document itself (testdata/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

outside='(\.\./s[h]ared|s[h]ared/(data|docs)|\b(MODEL[S]|DOMAI[N]|DESIG[N]|STYL[E]|TOOLCHAI[N]|MODEL-LANGUAGE[S])\.md|/wor[k]/|/hom[e]/[a-z])'
status=0
if git grep -n -I -E "$outside" ; then
    echo "error: the lines above refer to files outside the repository; copy what is read into" >&2
    echo "testdata/ (with its source and licence in testdata/README.md) or cite docs/ instead" >&2
    status=1
fi
issue_cite='\b[Ii]ssues? #?[0-9]+'
if git grep -n -I -E "$issue_cite" -- '*.rs' '*.sh' '*.mjs' '*.js' '*.toml' '*.py'; then
    echo "error: the lines above cite an issue number; cite the publication, a docs/ file or" >&2
    echo "benches/README.md instead" >&2
    status=1
fi
if [ "$status" -eq 0 ]; then
    echo "no tracked file refers to a path outside the repository or to an issue number"
fi
exit "$status"
