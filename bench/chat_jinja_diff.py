#!/usr/bin/env python3
# chat_jinja_diff.py SLM_BINARY — differential check of `slm template render`
# against Python Jinja2 (configured as transformers apply_chat_template, plus a
# `generation` block extension) on every template of ../shared/testdata/chat
# with extra conversations x gen/nogen x enable_thinking. Needs python3-jinja2.
# Prints mismatches (first per template x conversation) and the pass count.
import json, sys, datetime, subprocess, itertools, copy
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols, Extension
from jinja2 import nodes
class Gen(Extension):
    tags = {'generation'}
    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)
    def _render(self, caller): return caller()
def raise_exception(m): raise jinja2.exceptions.TemplateError(m)
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
def strftime_now(f): return datetime.datetime(2024,7,26).strftime(f)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, Gen])
env.filters['tojson']=tojson; env.globals['raise_exception']=raise_exception; env.globals['strftime_now']=strftime_now
import os
D=os.environ.get('SLM_CHAT_DIR', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'testdata', 'chat'))
cj=json.load(open(D+'/cases.json'))
convs=cj['conversations']
tool=convs['tool_call']['tools']
extra = {
 'reasoning': {'messages':[{'role':'system','content':'Sys.'},{'role':'user','content':'Q1'},{'role':'assistant','content':'A1','reasoning_content':'thinking hard'},{'role':'user','content':'Q2'}],'tools':None},
 'think_tags': {'messages':[{'role':'user','content':'Q1'},{'role':'assistant','content':'<think>\nhmm\n</think>\n\nA1'},{'role':'user','content':'Q2'}],'tools':None},
 'parts': {'messages':[{'role':'user','content':[{'type':'text','text':'Look'},{'type':'text','text':' here'}]}],'tools':None},
 'empty': {'messages':[{'role':'user','content':''}],'tools':None},
 'two_tools': {'messages':[{'role':'system','content':'You help.'},{'role':'user','content':'Weather in Paris and Rome?'},
    {'role':'assistant','content':None,'tool_calls':[{'id':'call12345','type':'function','function':{'name':'get_weather','arguments':{'location':'Paris'}}},{'id':'call67890','type':'function','function':{'name':'get_weather','arguments':{'location':'Rome','unit':'c','days':3,'flag':True,'extra':None,'list':[1,2.5]}}}]},
    {'role':'tool','tool_call_id':'call12345','name':'get_weather','content':'{"t": 20}'},{'role':'tool','tool_call_id':'call67890','name':'get_weather','content':'sunny'},
    {'role':'assistant','content':'Both fine.'},{'role':'user','content':'thanks'}],'tools':tool},
 'long_multi': {'messages':[{'role':'user','content':'a'},{'role':'assistant','content':'b'},{'role':'user','content':'c'},{'role':'assistant','content':'d'},{'role':'user','content':'  e  \n'}],'tools':None},
 'assistant_last': {'messages':[{'role':'user','content':'hi'},{'role':'assistant','content':'hello'}],'tools':None},
}
allconv = dict((k,v) for k,v in convs.items()); allconv.update(extra)
slm=sys.argv[1]
import tempfile
CTX=os.path.join(tempfile.mkdtemp(), 'ctx.json')
tot=ok=0; bad={}
for tname,tinfo in cj['templates'].items():
    src=open(D+'/'+tinfo['file']).read()
    try: tmpl=env.from_string(src)
    except Exception as e: print('PARSEFAIL', tname, e); continue
    for cname,conv in allconv.items():
      for gen in (True, False):
        for think in (None, True, False):
          ctx={'messages':conv['messages'],'add_generation_prompt':gen,'bos_token':tinfo['bos_token'],'eos_token':tinfo['eos_token'],'tools':conv.get('tools'),'documents':None}
          if think is not None: ctx['enable_thinking']=think
          try: want=tmpl.render(**copy.deepcopy(ctx)); werr=None
          except Exception as e: want=None; werr=type(e).__name__+': '+str(e)
          open(CTX,'w').write(json.dumps(ctx))
          p=subprocess.run([slm,'template','render',D+'/'+tinfo['file'],'--context',CTX],capture_output=True)
          tot+=1
          got = p.stdout.decode('utf-8','replace') if p.returncode==0 else None
          if (want is None and got is None) or (want is not None and got == want): ok+=1
          else:
            k=(tname,cname)
            if k not in bad:
              bad[k]=1
              if want is None: print('MISMATCH %s %s gen=%s think=%s: jinja raised %s; slm rendered' % (tname,cname,gen,think,werr[:100]))
              elif got is None: print('MISMATCH %s %s gen=%s think=%s: slm failed: %s' % (tname,cname,gen,think,p.stderr.decode()[:200]))
              else:
                i=0
                while i<min(len(got),len(want)) and got[i]==want[i]: i+=1
                print('MISMATCH %s %s gen=%s think=%s at %d:\n  got  %r\n  want %r' % (tname,cname,gen,think,i,got[max(0,i-40):i+60],want[max(0,i-40):i+60]))
print('%d/%d' % (ok,tot))
