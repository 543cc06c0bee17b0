# usage: /usr/bin/python3 heldout_markov.py ../../../shared/data/genomics/pretrain/human_GRCh37_chrX_0-70Mb.fa.xz 5 8
# (writes chunks.txt: the ten held-out chunks, one a line, for slm dna score)
# Held-out check: order-k Markov (add-one) trained on the whole training
# region, scored on 10 N-free 10,000-base chunks of the held-out last
# 1,000,000 bases (forward strand; the first k bases of a chunk unscored).
import lzma, sys
import numpy as np
path = sys.argv[1]
with lzma.open(path, 'rt') as f:
    s = ''.join(l.strip().upper() for l in f if not l.startswith('>'))
n = len(s)
a = np.frombuffer(s.encode(), dtype=np.uint8)
code = np.full(256, 4, dtype=np.int64)
for i, b in enumerate(b'ACGT'): code[b] = i
x = code[a]
train, held = x[:n - 1000000], x[n - 1000000:]
chunks = [held[i * 100000: i * 100000 + 10000] for i in range(10)]
assert all((c < 4).all() for c in chunks)
open('chunks.txt', 'w').write('\n'.join(s[n - 1000000 + i * 100000: n - 1000000 + i * 100000 + 10000] for i in range(10)) + '\n')
print('bases', n, 'train', len(train), 'held', len(held))
def ctx_codes(v, k):
    # code of v[i-k:i+1] (k context bases then the target) for i >= k; -1 if any N
    m = len(v) - k
    c = np.zeros(m, dtype=np.int64)
    bad = np.zeros(m, dtype=bool)
    for j in range(k + 1):
        w = v[j:j + m]
        bad |= w > 3
        c = c * 4 + np.minimum(w, 3)
    c[bad] = -1
    return c
for k in [int(a) for a in sys.argv[2:]] or [5]:
    ct = ctx_codes(train, k)
    cnt = np.bincount(ct[ct >= 0], minlength=4 ** (k + 1)).reshape(-1, 4).astype(np.float64)
    tot = nb = 0.0
    for ch in chunks:
        cc = ctx_codes(ch, k)
        row = cnt[cc // 4]
        p = (row[np.arange(len(cc)), cc % 4] + 1) / (row.sum(1) + 4)
        tot -= np.log(p).sum(); nb += len(cc)
    print('order %d Markov (add-one): %.4f nats/base over %d bases' % (k, tot / nb, nb), flush=True)
