#!/usr/bin/env python3
"""Usage: crd-platforms.py REPO OUT [SHARED_CRDS]

Scratch copies of the repository's three platforms, for BENCHMARKS.md (Charts and CRDs):
OUT/<name>/crds (as committed: custom resources checked against the CRDs in crds/) and
OUT/<name>/mini (crds/ removed, the mini-schemas of 23f820f restored in kiln.yaml), for root,
honeydue and sens; with SHARED_CRDS (../shared/crds), OUT/shared-crds: honeydue with the
shared upstream CRD files as its crds/ instead of its own. Never commit these copies."""
import glob, re, shutil, subprocess, sys, os
repo, out = sys.argv[1], sys.argv[2]
TOP = {'target', '.git', '.kiln', 'examples', 'crates', 'xtask', 'fuzz', 'docs'}
def ignore_top(root):  # the repository's non-platform directories, at the top only
    return lambda d, names: [n for n in names if d == root and n in TOP]
for name, sub in [('root', '.'), ('honeydue', 'examples/honeydue'), ('sens', 'examples/sens')]:
    for variant in ('crds', 'mini'):
        dst = os.path.join(out, name, variant)
        shutil.rmtree(dst, ignore_errors=True)
        src = os.path.join(repo, sub)
        shutil.copytree(src, dst, ignore=ignore_top(src), symlinks=True)
        if variant == 'crds':
            continue
        shutil.rmtree(os.path.join(dst, 'crds'))
        old = subprocess.run(['git', '-C', repo, 'show', f'23f820f:{sub}/kiln.yaml'],
                             capture_output=True, text=True, check=True).stdout
        block = re.search(r'^  custom_resources:\n(?:(?:    .*|  #.*|)\n)*', old, re.M).group(0)
        block = re.sub(r'\n(  #.*\n)+$', '\n', block)   # drop the next key's comment
        text = open(os.path.join(dst, 'kiln.yaml')).read()
        if '  custom_resources:\n' in text:
            # the root keeps what a CRD cannot say (item_path) on its OnePasswordItem
            block = block.replace('schema: { spec: { itemPath: string } }',
                                  'schema: { spec: { itemPath: string } }\n      item_path: spec.itemPath')
            text = re.sub(r'^  custom_resources:\n(?:(?:    .*|  #.*|)\n)*?(?=  [a-z])', block, text, flags=re.M)
        else:
            text = text.replace('\nlint:\n', '\nlint:\n' + block, 1)
        open(os.path.join(dst, 'kiln.yaml'), 'w').write(text)
if len(sys.argv) > 3:
    dst = os.path.join(out, 'shared-crds')
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(os.path.join(out, 'honeydue', 'crds'), dst)
    shutil.rmtree(os.path.join(dst, 'crds'))
    os.mkdir(os.path.join(dst, 'crds'))
    for f in sorted(glob.glob(os.path.join(sys.argv[3], '*.yaml'))):
        shutil.copy(f, os.path.join(dst, 'crds'))
