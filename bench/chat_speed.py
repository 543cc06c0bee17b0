#!/usr/bin/env python3
# chat_speed.py TEST_CONF_CHAT_BINARY — speed of slm against Jinja2 on the 650
# reference cases of ../shared/testdata/chat: time inside render calls only.
# Jinja2 renders with each template compiled once and cached (as transformers
# does; compile time reported apart); slm parses every template for every case
# (test_conf_chat prints its time inside slm_chat_template_render).
# Alternating runs, best of 5.
# Report ratios only: the machine is shared. Needs python3-jinja2.
import json, os, subprocess, sys, time
here = os.path.dirname(os.path.abspath(__file__))
src = open(os.path.join(here, 'chat_jinja_diff.py')).read()
exec(src.split("import os\nD=")[0])  # the Jinja2 environment of chat_jinja_diff.py
D = os.environ.get('SLM_CHAT_DIR', os.path.join(here, '..', '..', 'shared', 'testdata', 'chat'))
cj = json.load(open(D + '/cases.json'))
cache = {}

def run_jinja():
    tc = tr = 0.0
    for c in cj['cases']:
        t = cj['templates'][c['template']]
        if t['file'] not in cache:
            t0 = time.perf_counter()
            cache[t['file']] = env.from_string(open(D + '/' + t['file']).read())
            tc += time.perf_counter() - t0
        ctx = {'messages': cj['conversations'][c['conversation']]['messages']}
        ctx.update(c['variables'])
        t0 = time.perf_counter()
        try:
            cache[t['file']].render(**ctx)
        except Exception:
            pass
        tr += time.perf_counter() - t0
    return tc, tr

compile_s, _ = run_jinja()
res = {'jinja2_render': [], 'slm_parse_render': []}
for rep in range(5):
    res['jinja2_render'].append(run_jinja()[1])
    out = subprocess.run([sys.argv[1]], capture_output=True, check=True, text=True).stdout
    ms = float(out.split('render time (parse + render, all cases): ')[1].split(' ms')[0])
    res['slm_parse_render'].append(ms / 1e3)
print('jinja2 compile of the 52 templates (once): %.3f s' % compile_s)
print({k: [round(x, 4) for x in v] for k, v in res.items()})
print('ratio (best/best) jinja2 render (cached) / slm parse+render = %.2f' %
      (min(res['jinja2_render']) / min(res['slm_parse_render'])))
print('ratio jinja2 compile+render / slm parse+render = %.0f' %
      ((compile_s + min(res['jinja2_render'])) / min(res['slm_parse_render'])))
