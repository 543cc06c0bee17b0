/* test_chat.c — the chat-template interpreter (src/chat) on its own.
 *
 * The expected renderings in `cases` were produced by the reference engine,
 * Python Jinja2 3.1.6, configured as transformers' apply_chat_template
 * (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
 * tojson = json.dumps(ensure_ascii=False, ...), raise_exception,
 * strftime_now at 2024-07-26 00:00): each row's template and context were
 * rendered there, and NULL marks a row where Jinja2 raised (its error in the
 * comment). Then: error messages name the line, unsupported constructs are
 * named, allocation failures are clean, and random mutations of real
 * templates never crash (run under ASan+UBSan to make that meaningful).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "harness.h"
#include "slm.h"

typedef struct jcase {
    const char *name, *tmpl, *ctx, *want;
} jcase;

static const jcase cases[] = {
    {"arithmetic_follows_python",
     "{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}|{{ 1.5 + 1 }}|{{ 10 - 2 - 3 }}|{{ 'ab' * 2 }}",
     "{}",
     "7|3|-4|2|3.5|1024|2.5|5|abab"},
    {"values_print_as_python",
     "{{ 'a' ~ 1 ~ none ~ true }}|{{ [1, 'x', \"it's\"] }}|{{ {'a': 1, 'b': [none, false]} }}|{{ 0.1 + 0.2 }}|{{ 1e20 }}|{{ 1e-5 }}|{{ 2.0 }}|{{ (1, 'a') }}|{{ x }}|{{ d }}",
     "{\"x\": 3, \"d\": {\"k\": \"v\"}}",
     "a1NoneTrue|[1, 'x', \"it's\"]|{'a': 1, 'b': [None, False]}|0.30000000000000004|1e+20|1e-05|2.0|(1, 'a')|3|{'k': 'v'}"},
    {"strings_count_code_points",
     "{{ s[1:3] }}|{{ s[::-1] }}|{{ s[-1] }}|{{ s|length }}|{{ s.upper() }}|{{ '  x y \343\200\200'.strip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ s.startswith('h') }}|{{ 'll' in s }}|{{ s.endswith(('x', 'o')) }}|{{ s[10:] }}|{{ 'a-b-c'.rsplit('-', 1) }}|{{ 'xxhixx'.lstrip('x') }}|{{ s.replace('l', 'L', 1) }}",
     "{\"s\": \"h\303\251llo\"}",
     "\303\251l|oll\303\251h|o|5|H\303\211LLO|x y|['a', 'b', '', 'c']|['a', 'b']|True|True|True||['a-b', 'c']|hixx|h\303\251Llo"},
    {"whitespace_control_matches_jinja",
     "  {% if true %}\n  yes\n  {% endif %}\n{{- ' a ' -}}\n  b  {#- c -#}  d {%+ if true %}e{% endif %}\n\t{% for i in [1, 2] -%}\n   {{ i }}\n{%- endfor %}\n{# comment #}\nend\n",
     "{}",
     "  yes\n a bd e12end"},
    {"loop_variables",
     "{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.previtem|default('-') }}{{ loop.nextitem|default('-') }};{% endfor %}",
     "{\"items\": [\"a\", \"b\", \"c\"]}",
     "10TrueFalse33-b;21FalseFalse32ac;32FalseTrue31b-;"},
    {"loop_filter_break_continue_else_unpacking",
     "{% for k, v in d.items() if v > 1 %}{% if v == 3 %}{% continue %}{% endif %}{{ k }}={{ v }}/{{ loop.length }},{% if v > 3 %}{% break %}{% endif %}{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}|{% for c in 'ab' %}{{ c }}{% endfor %}|{% for k in d %}{{ k }}{% endfor %}",
     "{\"d\": {\"a\": 1, \"b\": 2, \"c\": 3, \"e\": 4, \"f\": 5}}",
     "b=2/4,e=4/4,|empty|ab|abcef"},
    {"set_in_loop_does_not_leak_namespace_does",
     "{% set x = 1 %}{% set ns = namespace(y=0, z='s') %}{% for i in range(3) %}{% set x = x + i %}{% set ns.y = ns.y + i %}{{ x }}{% endfor %}|{{ x }}|{{ ns.y }}{{ ns.z }}|{% set b %}in {{ x }}{% endset %}{{ b }}|{% if true %}{% set w = 5 %}{% endif %}{{ w }}",
     "{}",
     "123|1|3s|in 1|5"},
    {"macros_with_defaults_and_keywords",
     "{% macro f(a, b='B', c=none) %}[{{ a }}{{ b }}{{ c }}]{% endmacro %}{{ f(1) }}{{ f(1, 2) }}{{ f(b=3, a=4) }}{{ f() }}{% set r = f('x') %}{{ r|length }}",
     "{}",
     "[1BNone][12None][43None][BNone]8"},
    {"tojson_is_python_json_dumps",
     "{{ x|tojson }}|{{ x|tojson(indent=2) }}|{{ x|tojson(sort_keys=true) }}|{{ 'e\303\251\"<>&\\'\\\\\t\001'|tojson }}|{{ x|tojson(ensure_ascii=true) }}|{{ [] | tojson(indent=4) }}|{{ {'k': {}}|tojson(indent='\\t') }}|{{ x|tojson(separators=(',', ':')) }}",
     "{\"x\": {\"b\": [1, 2.5, null, true, \"\344\270\255\"], \"a\": \"\303\251\\n\"}}",
     "{\"b\": [1, 2.5, null, true, \"\344\270\255\"], \"a\": \"\303\251\\n\"}|{\n  \"b\": [\n    1,\n    2.5,\n    null,\n    true,\n    \"\344\270\255\"\n  ],\n  \"a\": \"\303\251\\n\"\n}|{\"a\": \"\303\251\\n\", \"b\": [1, 2.5, null, true, \"\344\270\255\"]}|\"e\303\251\\\"<>&'\\\\\\t\\u0001\"|{\"b\": [1, 2.5, null, true, \"\\u4e2d\"], \"a\": \"\\u00e9\\n\"}|[]|{\n\t\"k\": {}\n}|{\"b\":[1,2.5,null,true,\"\344\270\255\"],\"a\":\"\303\251\\n\"}"},
    {"filters",
     "{{ items|join(', ') }}|{{ items|map('upper')|list }}|{{ d|dictsort }}|{{ users|selectattr('active')|map(attribute='name')|join }}|{{ users|rejectattr('name', 'equalto', 'bob')|list|length }}|{{ [3, 1, 2]|sort }}|{{ none|default('dflt') }}|{{ undefined_var|default('dflt') }}|{{ ''|default('e', true) }}|{{ 'a\\n\\nb'|indent(2, first=true) }}|{{ [1, 2, 2, 3]|unique|list }}|{{ [3, 5, 1]|min }}|{{ 'HeLLo'|lower }}|{{ '  x '|trim }}|{{ 'aXa'|replace('a', 'b') }}|{{ 42|string }}|{{ d|items|list }}|{{ users|sort(attribute='name', reverse=true)|map(attribute='name')|list }}|{{ items|first }}{{ items|last }}|{{ '3'|int + 1 }}|{{ [1, 2]|select('odd')|list }}|{{ 'ab'|upper }}|{{ items|reject('equalto', 'x')|list }}",
     "{\"items\": [\"x\", \"y\"], \"d\": {\"b\": 2, \"A\": 1}, \"users\": [{\"name\": \"bob\", \"active\": true}, {\"name\": \"al\", \"active\": false}, {\"name\": \"cy\", \"active\": true}]}",
     "x, y|['X', 'Y']|[('A', 1), ('b', 2)]|bobcy|2|[1, 2, 3]|None|dflt|e|  a\n\n  b|[1, 2, 3]|1|hello|x|bXb|42|[('b', 2), ('A', 1)]|['cy', 'bob', 'al']|xy|4|[1]|AB|['y']"},
    {"tests",
     "{{ x is defined }}{{ y is defined }}{{ none is none }}{{ 's' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ 1 is number }}{{ true is boolean }}{{ 'x' is not none }}{{ 3 is odd }}{{ 4 is even }}{{ 1 is sameas true }}{{ 'a' is in 'cat' }}{{ x is integer }}{{ 1.5 is float }}{{ ns is mapping }}{{ y is undefined }}{{ false is false }}{{ true is true }}{{ 'ab' is lower }}{{ 6 is divisibleby 3 }}",
     "{\"x\": 1}",
     "TrueFalseTrueTrueTrueTrueTrueTrueTrueTrueTrueFalseTrueTrueTrueFalseTrueTrueTrueTrueTrue"},
    {"strftime_now_uses_a_fixed_clock",
     "{{ strftime_now('%Y-%m-%d %A %B %d %H:%M') }}|{{ strftime_now('%d %b %Y') }}",
     "{}",
     "2024-07-26 Friday July 26 00:00|26 Jul 2024"},
    {"str_format_and_inline_if",
     "{{ '<{}|{}>'.format('a', 1) }}|{{ '{0}{0}{name}'.format('x', name='n') }}|{{ 'y' if x else 'n' }}{{ 'z' if not x }}|{{ x and 'A' or 'B' }}|{{ 0 or none }}|{{ [] or 'empty' }}",
     "{\"x\": 0}",
     "<a|1>|xxn|nz|B|None|empty"},
    {"undefined_behaves_like_jinja",
     "{{ missing }}|{{ missing|length }}|{% for a in missing %}x{% endfor %}|{{ d.nokey }}|{{ d['nokey'] is defined }}|{{ [1, 2][5] is defined }}|{{ missing is none }}|{{ not missing }}|{{ missing ~ 'x' }}|{{ none.attr is defined }}|{{ d.get('nokey', 'dv') }}|{{ d.get('k') }}|{{ missing == none }}",
     "{\"d\": {\"k\": \"v\"}}",
     "|0|||False|False|False|True|x|False|dv|v|False"},
    {"comparison_and_membership",
     "{{ 1 == 1.0 }}{{ 'a' < 'b' }}{{ [1, 2] == [1, 2] }}{{ 'k' in d }}{{ 2 in [1, 2] }}{{ 'z' not in 'abc' }}{{ none == none }}{{ 1 != 2 }}{{ 3 >= 3 }}{{ (1, 2) == (1, 2) }}{{ 1 < 2 < 3 }}",
     "{\"d\": {\"k\": 1}}",
     "TrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrue"},
    {"error_undefined_attribute_names_its_line",
     "line1\n{{ missing.attr }}",
     "{}",
     NULL /* UndefinedError: 'missing' is undefined */},
    {"error_string_plus_int",
     "{{ 'a' + 1 }}",
     "{}",
     NULL /* TypeError: can only concatenate str (not "int") to str */},
    {"error_iterating_none",
     "{% for x in none %}{% endfor %}",
     "{}",
     NULL /* TypeError: 'NoneType' object is not iterable */},
    {"error_mutating_method",
     "{% set l = [1] %}{{ l.append(2) }}",
     "{}",
     NULL /* SecurityError: access to attribute 'append' of 'list' object is unsafe. */},
    {"error_unknown_filter_at_runtime",
     "{% if false %}{{ x|from_json }}{% endif %}ok{{ x|from_json }}",
     "{\"x\": \"1\"}",
     NULL /* TemplateAssertionError: No filter named 'from_json'. */},
    {"error_unclosed_block",
     "{% if true %}\nx",
     "{}",
     NULL /* TemplateSyntaxError: Unexpected end of template. Jinja was looking for the follow */},
    {"error_raise_exception",
     "a{{ raise_exception('stop here') }}",
     "{}",
     NULL /* TemplateError: stop here */},
    {"error_division_by_zero",
     "{{ 1 / 0 }}",
     "{}",
     NULL /* ZeroDivisionError: division by zero */},
    {"error_items_on_a_string",
     "{{ s|items|list }}",
     "{\"s\": \"x\"}",
     NULL /* TypeError: Can only get item pairs from a mapping. */},
    {"error_calling_undefined",
     "{{ nope() }}",
     "{}",
     NULL /* UndefinedError: 'nope' is undefined */},
    {"error_tojson_of_a_generator",
     "{{ [1]|map('string')|tojson }}",
     "{}",
     NULL /* TypeError: Object of type generator is not JSON serializable */},
    {"filter_block_and_block_set_filter",
     "{% filter upper %}ab{{ 'c' }}{% endfilter %}|{% set t | trim %}  padded  {% endset %}[{{ t }}]|{% filter replace('a', 'o') %}banana{% endfilter %}",
     "{}",
     "ABC|[padded]|bonono"},
    {"int_unique_defined_selectattr",
     "{{ '42'|int }}{{ 'x'|int }}{{ 3.9|int }}{{ '7.5'|int }}|{{ ['a', 'b', 'a', 'A']|unique|list }}|{{ items|selectattr('x', 'defined')|list|length }}|{{ items|selectattr('x', 'undefined')|list }}|{{ ''|default('d', true) }}{{ 0|default('z', true) }}{{ 0|default('z') }}",
     "{\"items\": [{\"x\": 1}, {\"y\": 2}, {\"x\": null}]}",
     "42037|['a', 'b']|2|[{'y': 2}]|dz0"},
    {"loop_cycle_and_more",
     "{% for i in range(4) %}{{ loop.cycle('a', 'b') }}{{ loop.revindex0 }}{% endfor %}|{{ range(2, 9, 3)|list }}|{{ [1, 2, 3]|sum }}|{{ [-1.5]|first|abs }}|{{ 2.567|round(2) }}|{{ '1.5'|float + 1 }}|{{ 'a b  c'|wordcount }}|{{ [1, 2]|reverse|list }}|{{ 'abc'|reverse }}|{{ [3, 4]|max }}|{{ d|dictsort(reverse=true) }}",
     "{\"d\": {\"b\": 1, \"a\": 2}}",
     "a3b2a1b0|[2, 5, 8]|6|1.5|2.57|2.5|3|[2, 1]|cba|4|[('b', 1), ('a', 2)]"},
    {"string_methods_more",
     "{{ 'Hello World'.title() }}|{{ 'hello world'.capitalize() }}|{{ 'a\\nb\\r\\nc'.splitlines() }}|{{ 'abcabc'.find('c') }}{{ 'abcabc'.rfind('c') }}{{ 'abc'.find('z') }}|{{ 'aaa'.count('a') }}|{{ '-'.join(['x', 'y']) }}|{{ '123'.isdigit() }}{{ 'ab1'.isalpha() }}|{{ 'prefix-x'.removeprefix('prefix-') }}|{{ ' x '.rstrip() }}!|{{ 'a=b=c'.split('=', 1) }}|{{ 'x'.upper().lower() }}|{{ '\303\251t\303\251'.upper() }}|{{ '\316\221\316\262'.lower() }}",
     "{}",
     "Hello World|Hello world|['a', 'b', 'c']|25-1|3|x-y|TrueFalse|x| x!|['a', 'b=c']|x|\303\211T\303\211|\316\261\316\262"},
    {"nested_data_and_literals",
     "{% set d = {'a': [1, {'b': 'c'}], 'e': none} %}{{ d.a[1].b }}{{ d['a'][0] }}{{ d.e is none }}|{{ d|tojson }}|{{ d.keys()|list }}{{ d.values()|list|length }}|{% for k, v in d|dictsort %}{{ k }}{% endfor %}|{{ (d.a|last).b }}|{{ [1, [2, 3]][1][0] }}|{{ {'x': 1}.x }}|{{ d.a[1:]|tojson }}",
     "{}",
     "c1True|{\"a\": [1, {\"b\": \"c\"}], \"e\": null}|['a', 'e']2|ae|c|2|1|[{\"b\": \"c\"}]"},
    {"truthiness_and_none",
     "{{ 'T' if [] else 'F' }}{{ 'T' if {} else 'F' }}{{ 'T' if 0.0 else 'F' }}{{ 'T' if ' ' else 'F' }}{{ 'T' if none else 'F' }}|{{ none }}|{{ none|string }}|{{ true|string|lower }}|{{ [none]|tojson }}|{{ x.y is not defined }}|{{ (x or {}).get('a', 1) }}",
     "{\"x\": {}}",
     "FFFTF|None|None|true|[null]|True|1"},
    {"message_content_parts",
     "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for p in m.content %}{% if p.type == 'text' %}{{ p.text }}{% elif p['type'] == 'image' %}<img>{% endif %}{% endfor %}{% endif %}{% endfor %}",
     "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, {\"type\": \"image\"}]}, {\"role\": \"user\", \"content\": \"b\"}]}",
     "a<img>b"},
    {"arithmetic_edges",
     "{{ 7 % -3 }}|{{ -7.5 // 2 }}|{{ 5.0 % 3 }}|{{ 2 ** -1 }}|{{ 10 / 4 }}|{{ 1 / 3 }}|{{ 3 * 1.1 }}|{{ 1e16 }}|{{ 123456789.0 }}|{{ 0.0001 }}|{{ -0.0 }}|{{ 100.0 / 3 }}",
     "{}",
     "-2|-4.0|2.0|0.5|2.5|0.3333333333333333|3.3000000000000003|1e+16|123456789.0|0.0001|-0.0|33.333333333333336"},
    {"whitespace_edge_cases",
     "a  {%- if true -%}  b  {%- endif -%}  c\n  {# c1 #}\n  {%- set x = 1 %}\n    {{ x }}  {% if true %}\n\n{% endif %}end{{ '' }}\n\n",
     "{}",
     "abc\n    1  \nend\n"},
    {"macro_scoping",
     "{% set g = 'G' %}{% macro m(x) %}{{ g }}{{ x }}{% set g = 'L' %}{{ g }}{% endmacro %}{{ m(1) }}{{ g }}{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}|{{ r(3) }}",
     "{}",
     "G1LG|321"},
    {"tojson_numbers",
     "{{ [1.0, 0.5, 1e-7, 1e22, -3, 2.5e-5]|tojson }}|{{ {'k': 'v\\u2028'}|tojson }}|{{ 'a/b'|tojson }}",
     "{}",
     "[1.0, 0.5, 1e-07, 1e+22, -3, 2.5e-05]|{\"k\": \"v\342\200\250\"}|\"a/b\""},
    {"int_keyed_dicts_and_tuples",
     "{%- set b = {\n  0: 0,\n  512: 128,\n  1024: 256\n} -%}{%- set ns = namespace(interval = None) -%}{%- for k, v in b | dictsort -%}{%- if ns.interval is none and budget <= k -%}{%- set ns.interval = v -%}{%- endif -%}{%- endfor -%}{{ ns.interval }}|{{ b[1024] }}|{{ 'integer' in ('number', 'integer') }}|{{ b|tojson }}",
     "{\"budget\": 300}",
     "128|256|True|{\"0\": 0, \"512\": 128, \"1024\": 256}"},
    {"loop_var_overwritten_in_body",
     "{% for tc in calls %}{%- if tc.function is defined %}{% set tc = tc.function %}{% endif %}{{ tc.name }}({% for k, v in tc.arguments | items %}{{ k }}={{ v | string }};{% endfor %}){% endfor %}",
     "{\"calls\": [{\"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": [1, \"x\"], \"c\": {\"d\": null}}}}, {\"name\": \"g\", \"arguments\": {}}]}",
     "f(a=1;b=[1, 'x'];c={'d': None};)g()"},
    {"multiline_tags_and_conditions",
     "{%- if a\n  and b is defined\n  and b | length > 0 %}\nyes\n{%- endif %}\n{%- set x = (\n   'p'\n   + 'q'\n) -%}\n{{ x }}",
     "{\"a\": 1, \"b\": [1]}",
     "yespq"},
    {"recursive_macro_with_kwargs",
     "{%- macro ts(schema, indent='', f=2) -%}{%- set ty = schema.get('type') -%}{%- if ty == 'object' -%}{{- '{\\n' -}}{%- for key, val in schema.get('properties', {}).items() -%}{{- indent + key + ('' if key in schema.get('required', []) else '?') + ': ' + ts(val, indent + (' ' * f), f) + ',\\n' -}}{%- endfor -%}{{- indent[:-f] + '}' -}}{%- elif ty == 'array' -%}{{- ts(schema['items'], indent, f) + '[]' -}}{%- elif schema.get('enum') -%}{%- set ns = namespace(e=[]) -%}{%- for x in schema['enum'] -%}{%- set ns.e = ns.e + ['\"' ~ x ~ '\"'] -%}{%- endfor -%}{{- ns.e | join(' | ') -}}{%- else -%}{{- ty or 'any' -}}{%- endif -%}{%- endmacro -%}{{ ts(s, '  ') }}",
     "{\"s\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\"}, \"b\": {\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"c\": {\"enum\": [\"x\", \"y\"]}}}}}, \"required\": [\"a\"]}}",
     "{\n  a: string,\n  b?: {\n    c?: \"x\" | \"y\",\n  }[],\n}"},
    {"block_set_and_macro_dict_args",
     "{%- macro r(m, role=None) -%}{%- if not role -%}{%- set role = m['role'] -%}{%- endif -%}{%- set c = m['content'] or '' -%}{%- if c is not string -%}{%- set c = c | tojson(ensure_ascii=False) -%}{%- endif -%}{{- role + ':' + c + ';' -}}{%- endmacro -%}{%- set DEV -%}\nline1\n  line2\n{%- endset -%}{{- r({'role': 'dev', 'content': DEV}) -}}{{- r({'role': 'x', 'content': none}, role='y') -}}{{- r({'role': 'z', 'content': {'k': '\303\251'}}) -}}",
     "{}",
     "dev:line1\n  line2;y:;z:{\"k\": \"\303\251\"};"},
    {"undefined_loops_and_string_braces",
     "{%- for tc in m.tool_calls -%}x{%- endfor -%}|{{- 'a {{\"n\": 1}} b' -}}|{{ m.content.split('</think>')[-1].lstrip() }}|{{ ', ' if not false and ([1, 2][1] == 2) else '' }}|{{ (m.missing if m.missing is defined else m) | tojson }}",
     "{\"m\": {\"content\": \"<think>r</think>\\n\\n ans\"}}",
     "|a {{\"n\": 1}} b|ans|, |{\"content\": \"<think>r</think>\\n\\n ans\"}"},
    {"first_last_rstrip_chars",
     "{%- set parts = c.split('</think>') -%}{%- set inner = (parts | first).rstrip('\\n').split('<think>') -%}[{{ inner | last }}]|[{{ (parts | last).lstrip('\\n') }}]|{{ c.strip('<>') }}",
     "{\"c\": \"<think>\\nabc\\n</think>\\nrest>\"}",
     "[\nabc]|[rest>]|think>\nabc\n</think>\nrest"},
    {"set_at_top_overrides_context",
     "{%- set enable_thinking = true -%}{{ enable_thinking }}{% set bos_token = 'B' %}{{ bos_token }}{% for i in [1] %}{% set bos_token = 'C' %}{{ bos_token }}{% endfor %}{{ bos_token }}",
     "{\"enable_thinking\": false, \"bos_token\": \"<s>\"}",
     "TrueBCB"},
    {"tool_messages_grouping",
     "{%- for message in messages -%}{%- if message.role == 'tool' -%}{%- if loop.first or (messages[loop.index0 - 1].role != 'tool') -%}<R>[{%- endif -%}{{- message.content -}}{{- ', ' if not loop.last and (messages[loop.index0 + 1].role == 'tool') else '' -}}{%- if loop.last or (messages[loop.index0 + 1].role != 'tool') -%}]{%- endif -%}{%- else -%}<{{ message.role }}>{%- endif -%}{%- endfor -%}",
     "{\"messages\": [{\"role\": \"user\"}, {\"role\": \"tool\", \"content\": \"a\"}, {\"role\": \"tool\", \"content\": \"b\"}, {\"role\": \"user\"}, {\"role\": \"tool\", \"content\": \"c\"}]}",
     "<user><R>[a, b]<user><R>[c]"},
    {"previtem_nextitem_and_loop_in_nested",
     "{% for x in xs %}{% for y in [1, 2] %}{{ loop.index }}{% endfor %}{{ loop.previtem is defined }}{{ loop.nextitem | default('-') }}{% endfor %}",
     "{\"xs\": [\"a\", \"b\"]}",
     "12Falseb12True-"},
    {"context_numbers_keep_int_and_float",
     "{{ a }} {{ b }} {{ c }} {{ d }} {{ e }} {{ [a, b, c]|tojson }} {{ a is float }}{{ b is integer }} {{ s }}",
     "{\"a\": 1.0, \"b\": 2, \"c\": 1e3, \"d\": -0.5, \"e\": 9007199254740993, \"s\": \"-1.5 \\\" 7\"}",
     "1.0 2 1000.0 -0.5 9007199254740993 [1.0, 2, 1000.0] TrueTrue -1.5 \" 7"},
    {"percent_formatting",
     "{{ '%s-%d' % ('a', 3) }}|{{ '%05.2f' % 3.14159 }}|{{ '%x' % 255 }}|{{ '%-4s|' % 'ab' }}|{{ '%r' % 'q' }}|{{ '100%%' % () }}|{{ '%(a)s=%(b)d' % {'a': 'k', 'b': 2} }}|{{ '%s' % [1, 'x'] }}|{{ '%3d' % 7 }}|{{ 7 % 3 }}|{{ '%5s|%.2s|%-3s|' % ('\303\251', 'abc', 'x') }}",
     "{}",
     "a-3|03.14|ff|ab  ||'q'|100%|k=2|[1, 'x']|  7|1|    \303\251|ab|x  |"},
    {"percent_format_errors",
     "{{ '%d' % 'x' }}",
     "{}",
     NULL /* TypeError: %d format: a real number is required, not str */},
};

static slm_status render(const char *tmpl, const char *ctx, char **out, size_t *len)
{
    return slm_chat_template_render(tmpl, strlen(tmpl), ctx, strlen(ctx), out, len);
}

static void renders_like_jinja2(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const jcase *c = &cases[i];
        char *out = NULL;
        size_t len = 0;
        slm_status st = render(c->tmpl, c->ctx, &out, &len);
        if (c->want) {
            CHECK(st == SLM_OK, "%s: %s", c->name, slm_last_error());
            if (st == SLM_OK)
                CHECK(len == strlen(c->want) && memcmp(out, c->want, len) == 0, "%s:\n got  [%s]\n want [%s]",
                      c->name, out, c->want);
        } else {
            CHECK(st != SLM_OK && out == NULL, "%s: rendered [%s] where Jinja2 raised", c->name, out ? out : "");
            CHECK(strlen(slm_last_error()) > 0, "%s: no error message", c->name);
        }
        slm_chat_free(out);
    }
}

static void generation_block_renders_its_body_in_its_own_scope(void)
{
    /* transformers' {% generation %} is a call block: body unchanged, sets stay inside */
    char *out = NULL;
    size_t len = 0;
    slm_status st = render("a{% generation %}{% set q = 1 %}b{{ q }}{% endgeneration %}{{ q is defined }}", "{}",
                           &out, &len);
    REQUIRE(st == SLM_OK, "%s", slm_last_error());
    CHECK(strcmp(out, "ab1False") == 0, "got %s", out);
    slm_chat_free(out);
}

static void one_trailing_newline_is_dropped(void)
{
    char *out = NULL;
    size_t len = 0;
    REQUIRE(render("x\n\n", "{}", &out, &len) == SLM_OK, "%s", slm_last_error());
    CHECK(len == 2 && memcmp(out, "x\n", 2) == 0, "got [%s]", out);
    slm_chat_free(out);
}

static void errors_name_the_line_and_construct(void)
{
    static const struct {
        const char *tmpl, *needle;
        slm_status st;
    } errs[] = {
        {"a\nb\n{{ missing.attr }}", "line 3", SLM_ERR_FORMAT},
        {"{% if x %}\n\n{{ 1 +  }}{% endif %}", "line 3", SLM_ERR_FORMAT},
        {"x\n{% include 'other.jinja' %}", "include", SLM_ERR_UNSUPPORTED},
        {"{% call m() %}x{% endcall %}", "call", SLM_ERR_UNSUPPORTED},
        {"{% for x in y recursive %}{% endfor %}", "recursive", SLM_ERR_UNSUPPORTED},
        {"{% if true %}\nx", "endif", SLM_ERR_FORMAT},
        {"{{ 'abc", "unterminated", SLM_ERR_FORMAT},
        {"{% endfor %}", "endfor", SLM_ERR_FORMAT},
        {"\n\n{{ raise_exception('System role not supported') }}",
         "line 3: raise_exception: System role not supported", SLM_ERR_FORMAT},
        {"{{ [1, 2].pop() }}", "unsafe", SLM_ERR_FORMAT},
        {"{{ x | from_json }}", "No filter named 'from_json'", SLM_ERR_FORMAT},
        /* Python ints are unbounded; ours are 64-bit and refuse to wrap */
        {"{{ (2 ** 62) * 4 }}", "integer overflow", SLM_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        char *out = (char *)1;
        size_t len = 7;
        slm_status st = render(errs[i].tmpl, "{}", &out, &len);
        CHECK(st == errs[i].st, "case %zu: status %s, want %s (%s)", i, slm_status_name(st),
              slm_status_name(errs[i].st), slm_last_error());
        CHECK(out == NULL && len == 0, "case %zu: outputs not cleared", i);
        CHECK(strstr(slm_last_error(), errs[i].needle) != NULL, "case %zu: message '%s' lacks '%s'", i,
              slm_last_error(), errs[i].needle);
    }
}

static void bad_arguments_and_context_are_refused(void)
{
    char *out = NULL;
    CHECK(slm_chat_template_render("x", 1, "{}", 2, NULL, NULL) == SLM_ERR_ARG, "NULL out accepted");
    CHECK(slm_chat_template_render(NULL, 3, "{}", 2, &out, NULL) == SLM_ERR_ARG, "NULL template accepted");
    CHECK(render("x", "[1, 2]", &out, NULL) == SLM_ERR_FORMAT && out == NULL, "array context accepted");
    CHECK(render("x", "{\"a\": ", &out, NULL) == SLM_ERR_FORMAT && out == NULL, "broken JSON accepted");
    CHECK(slm_chat_template_render("{{ a }}", 7, NULL, 0, &out, NULL) == SLM_OK && strcmp(out, "") == 0,
          "empty context: %s", slm_last_error());
    slm_chat_free(out);
}

static void runaway_templates_stop_with_an_error(void)
{
    char *out = NULL;
    /* 1e12 iterations would never finish: the step limit stops it */
    CHECK(render("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}", "{}", &out,
                 NULL) != SLM_OK,
          "runaway loop finished?");
    /* deep nesting is refused, not a stack overflow */
    size_t n = 100000;
    char *deep = malloc(2 * n + 16);
    REQUIRE(deep, "oom");
    strcpy(deep, "{{ ");
    memset(deep + 3, '(', n);
    strcpy(deep + 3 + n, "1");
    memset(deep + 4 + n, ')', n);
    strcpy(deep + 4 + 2 * n, " }}");
    CHECK(render(deep, "{}", &out, NULL) != SLM_OK, "100000 nested parentheses accepted");
    memset(deep, '[', n);
    deep[n] = 0;
    char *ctx = malloc(2 * n + 32);
    REQUIRE(ctx, "oom");
    strcpy(ctx, "{\"a\": ");
    memset(ctx + 6, '[', n);
    memset(ctx + 6 + n, ']', n);
    strcpy(ctx + 6 + 2 * n, "}");
    CHECK(render("{{ a|tojson }}", ctx, &out, NULL) != SLM_OK, "deeply nested context accepted");
    free(ctx);
    free(deep);
    CHECK(out == NULL, "output set on failure");
}

/* A template that exercises most of the interpreter, for the OOM and fuzz tests. */
static const char *rich_tmpl =
    "{%- set ns = namespace(first=true, n=0) -%}\n"
    "{%- macro show(m, pre='> ') -%}{{ pre }}{{ m.role|upper }}: {{ m.content|trim }}{%- endmacro -%}\n"
    "{{ bos_token }}{% for m in messages if m.role != 'tool' %}\n"
    "  {%- if loop.first and m.role == 'system' %}[SYS {{ m.content }}]\n"
    "  {%- elif m.content is string %}{{ show(m) }}{% set ns.n = ns.n + 1 %}\n"
    "  {%- else %}{{ m.content|tojson(indent=2) }}{% endif %}\n"
    "  {%- if m.tool_calls is defined %}{% for tc in m.tool_calls %}{{ tc.function.name }}("
    "{%- for k, v in tc.function.arguments.items() %}{{ k }}={{ v|tojson }}{% if not loop.last %}, {% endif %}{% endfor %})"
    "{%- endfor %}{% endif %}\n"
    "{% endfor %}{{ ns.n }} {{ messages|length }} {{ messages[-1].content[::-1] }}{{ '|'.join(['a', 'b']) }}"
    "{% if add_generation_prompt %}<assistant>{% endif %}{{ tools|tojson if tools else '' }}\n";
static const char *rich_ctx =
    "{\"bos_token\": \"<s>\", \"add_generation_prompt\": true, \"tools\": [{\"type\": \"function\", \"function\": "
    "{\"name\": \"f\", \"parameters\": {}}}], \"messages\": [{\"role\": \"system\", \"content\": \"be brief\"},"
    "{\"role\": \"user\", \"content\": \" h\\u00e9llo \"},{\"role\": \"assistant\", \"content\": \"\", "
    "\"tool_calls\": [{\"function\": {\"name\": \"get\", \"arguments\": {\"city\": \"Paris\", \"n\": 2}}}]},"
    "{\"role\": \"tool\", \"content\": \"sunny\"},{\"role\": \"user\", \"content\": [1, 2]}]}";

static void allocation_failures_are_reported_and_clean(void)
{
    char *ref = NULL;
    REQUIRE(render(rich_tmpl, rich_ctx, &ref, NULL) == SLM_OK, "%s", slm_last_error());
    int failures = 0;
    for (long k = 0; k < 200; k++) {
        char *out = NULL;
        slm_alloc_fail_after(k);
        slm_status st = render(rich_tmpl, rich_ctx, &out, NULL);
        slm_alloc_fail_after(-1);
        if (st == SLM_OK) {
            CHECK(strcmp(out, ref) == 0, "fail_after %ld: different output", k);
            slm_chat_free(out);
            break;
        }
        CHECK(out == NULL, "fail_after %ld: output set on failure", k);
        failures++;
    }
    CHECK(failures >= 1, "no allocation was made to fail");
    slm_chat_free(ref);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void random_mutations_never_crash(void)
{
    static const char pieces[][8] = {"{{", "}}", "{%", "%}", "{#", "#}", "-", "(", ")", "[", "]", "'",
                                     "\"", "|", ".", ",", "=", " ", "\n", "\\", "\xc3", "for", "if", "end"};
    size_t base_len = strlen(rich_tmpl);
    char *buf = malloc(base_len * 2 + 64);
    REQUIRE(buf, "oom");
    int ok = 0, err = 0;
    const char *env = getenv("SLM_CHAT_FUZZ_ITERS"); /* longer runs by hand */
    int iters = env ? atoi(env) : 3000;
    for (int iter = 0; iter < iters; iter++) {
        const char *src = iter % 3 == 0 ? cases[iter / 3 % (sizeof cases / sizeof cases[0])].tmpl : rich_tmpl;
        size_t n = strlen(src);
        memcpy(buf, src, n);
        int muts = 1 + (int)(rnd() % 4);
        for (int m = 0; m < muts && n > 0; m++) {
            size_t at = rnd() % n;
            switch (rnd() % 3) {
            case 0: /* delete a run */ {
                size_t k = 1 + rnd() % 4;
                if (at + k > n) k = n - at;
                memmove(buf + at, buf + at + k, n - at - k);
                n -= k;
                break;
            }
            case 1: /* insert a piece */ {
                const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
                size_t k = strlen(p);
                if (n + k > base_len * 2 + 32) break;
                memmove(buf + at + k, buf + at, n - at);
                memcpy(buf + at, p, k);
                n += k;
                break;
            }
            default: buf[at] = (char)(rnd() & 0xff); break;
            }
        }
        char *out = NULL;
        size_t len = 0;
        slm_status st = slm_chat_template_render(buf, n, rich_ctx, strlen(rich_ctx), &out, &len);
        if (st == SLM_OK) {
            ok++;
            CHECK(out && out[len] == 0, "output not NUL-terminated");
        } else {
            err++;
            CHECK(out == NULL && strlen(slm_last_error()) > 0, "error without message");
        }
        slm_chat_free(out);
    }
    printf("  mutations: %d rendered, %d refused\n", ok, err);
    CHECK(iters < 3000 || (ok > 100 && err > 100), "mutations should both render and fail sometimes (%d/%d)", ok, err);
    free(buf);
}

int main(void)
{
    RUN(renders_like_jinja2);
    RUN(generation_block_renders_its_body_in_its_own_scope);
    RUN(one_trailing_newline_is_dropped);
    RUN(errors_name_the_line_and_construct);
    RUN(bad_arguments_and_context_are_refused);
    RUN(runaway_templates_stop_with_an_error);
    RUN(allocation_failures_are_reported_and_clean);
    RUN(random_mutations_never_crash);
    return harness_finish();
}
