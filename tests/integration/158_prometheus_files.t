#!/usr/bin/python3
"""etc/prometheus/guardlist-alerts.yml and etc/grafana/guardlist.json (issue
22) load in their tools and ask only for metrics guardlist exports.

Checked: `promtool check rules` accepts the alert rules; `promtool test
rules` passes guardlist-alerts.test.yml (each alert: a series that fires, one
that does not, and nothing before its `for:` has passed); the rules cover
stale rules, the notifier's backlog, database errors and a daemon that is
down (`up`); the dashboard is valid JSON in Grafana's export form (a
DS_PROMETHEUS input every panel uses, unique panel ids, no link to another
site), has the panels the issue asks for, and every metric name in the
dashboard and the rules is one of METRICS below (the contract between
guardlistd, guardlist-notify and `guardlist stats --prometheus`; a
histogram's _bucket, _sum and _count included); the name check itself
finds a name outside the contract."""
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lib'))
import harness as h  # noqa: E402

RULES = os.path.join(ROOT, 'etc', 'prometheus', 'guardlist-alerts.yml')
RULE_TESTS = os.path.join(ROOT, 'etc', 'prometheus', 'guardlist-alerts.test.yml')
DASHBOARD = os.path.join(ROOT, 'etc', 'grafana', 'guardlist.json')

# The metric names (docs/deploy.md, "Metrics"): guardlistd, guardlist-notify,
# guardlist stats --prometheus, and Prometheus's own `up`.
HISTOGRAMS = {'guardlist_rule_load_duration_seconds', 'guardlist_decision_duration_seconds'}
METRICS = HISTOGRAMS | {
    'guardlist_decisions_total', 'guardlist_challenges_created_total', 'guardlist_cap_refusals_total',
    'guardlist_rule_loads_total', 'guardlist_rules', 'guardlist_protected_keys',
    'guardlist_rules_refresh_age_seconds', 'guardlist_db_errors_total', 'guardlist_connections',
    'guardlist_build_info', 'process_start_time_seconds',
    'guardlist_notify_emails_sent_total', 'guardlist_notify_emails_failed_total',
    'guardlist_notify_emails_retried_total', 'guardlist_notify_digests_sent_total',
    'guardlist_notify_queue_challenges', 'guardlist_notify_oldest_waiting_seconds', 'guardlist_notify_cycles_total',
    'guardlist_notify_last_cycle_timestamp_seconds',
    'guardlist_stats_protected_recipients', 'guardlist_stats_rules', 'guardlist_stats_challenges',
    'guardlist_stats_decision_median_seconds', 'guardlist_stats_generated_timestamp_seconds',
    'up',
}
NAME = re.compile(r'(?<![A-Za-z0-9_:"])(guardlist_[a-z0-9_]+|process_[a-z0-9_]+|up)(?=\s*[{\[)]|\s*$|\s*[<>=!+*/-])')


def names_in(expr):
    """The metric names EXPR asks for (a histogram's series by its own name)."""
    out = set()
    for n in NAME.findall(expr):
        for suffix in ('_bucket', '_sum', '_count'):
            if n.endswith(suffix) and n[:-len(suffix)] in HISTOGRAMS:
                n = n[:-len(suffix)]
        out.add(n)
    return out


def unknown(exprs):
    return sorted({n for e in exprs for n in names_in(e)} - METRICS)


def check_rules():
    p = subprocess.run(['promtool', 'check', 'rules', RULES], capture_output=True, text=True, timeout=60)
    h.ok(p.returncode == 0 and 'SUCCESS' in p.stdout, 'promtool check rules accepts guardlist-alerts.yml',
         p.stdout, p.stderr)
    p = subprocess.run(['promtool', 'test', 'rules', RULE_TESTS], capture_output=True, text=True, timeout=60,
                       cwd=os.path.dirname(RULE_TESTS))
    h.ok(p.returncode == 0 and 'SUCCESS' in p.stdout, 'promtool test rules: the alerts\' unit tests pass',
         p.stdout, p.stderr)
    text = open(RULES).read()
    alerts = re.findall(r'^\s*- alert: (\S+)', text, re.M)
    exprs = re.findall(r'^\s*expr: (.+)$', text, re.M)
    h.is_(len(alerts), len(exprs), 'every rule has one expr')
    for a in ('GuardlistRulesStale', 'GuardlistNotifierBacklog', 'GuardlistDatabaseErrors', 'GuardlistDaemonDown'):
        h.ok(a in alerts, 'the rules have %s' % a)
    tested = set(re.findall(r'alertname: (\S+)', open(RULE_TESTS).read()))
    h.is_(sorted(tested), sorted(alerts), 'every alert has unit tests')
    h.is_(unknown(exprs), [], 'every metric the rules ask for is in the contract')
    h.ok(any('up{job="guardlistd"}' in e for e in exprs), 'a daemon that is down is found by up')


def check_dashboard():
    try:
        d = json.load(open(DASHBOARD))
    except ValueError as e:
        h.ok(False, 'the dashboard is valid JSON', str(e))
        return
    h.ok(True, 'the dashboard is valid JSON')
    h.is_([(i.get('name'), i.get('type'), i.get('pluginId')) for i in d.get('__inputs', [])],
          [('DS_PROMETHEUS', 'datasource', 'prometheus')], 'it asks for one Prometheus data source on import')
    panels = [p for p in d.get('panels', []) if p.get('type') != 'row']
    ids = [p.get('id') for p in d.get('panels', [])]
    h.ok(len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), 'panel ids are unique numbers')
    targets = [t for p in panels for t in p.get('targets', [])]
    exprs = [t.get('expr', '') for t in targets]
    h.ok(panels and all(p.get('targets') for p in panels), 'every panel has a query (%d panels, %d queries)'
         % (len(panels), len(exprs)))
    ds = {json.dumps(p.get('datasource'), sort_keys=True) for p in panels} | \
         {json.dumps(t.get('datasource'), sort_keys=True) for t in targets}
    h.is_(ds, {json.dumps({'type': 'prometheus', 'uid': '${DS_PROMETHEUS}'}, sort_keys=True)},
          'every panel and query uses that data source')
    h.is_(unknown(exprs), [], 'every metric the dashboard asks for is in the contract')
    asked = {n for e in exprs for n in names_in(e)}
    for n in ('guardlist_decisions_total', 'guardlist_challenges_created_total', 'guardlist_decision_duration_seconds',
              'guardlist_rules_refresh_age_seconds', 'guardlist_notify_queue_challenges',
              'guardlist_notify_oldest_waiting_seconds', 'guardlist_db_errors_total'):
        h.ok(n in asked, 'the dashboard shows %s' % n)
    h.ok(any(e.startswith('histogram_quantile(0.99,') and 'guardlist_decision_duration_seconds_bucket' in e
             for e in exprs), 'the dashboard has the decision latency p99 from the histogram')
    h.ok(any('sum by (outcome)' in e for e in exprs), 'the dashboard has the decisions by outcome')
    text = open(DASHBOARD).read()
    h.ok(not re.search(r'https?://', text), 'the dashboard links to no other site')


def main():
    if not shutil.which('promtool'):
        h.ok(False, 'promtool is installed (make deps installs prometheus)')
        return
    check_rules()
    check_dashboard()
    # The check finds what is not in the contract, also beside known names.
    h.is_(unknown(['rate(guardlist_decisions_total[5m]) / guardlist_decision_total',
                   'histogram_quantile(0.9, rate(guardlist_decision_duration_seconds_bucket[1m]))',
                   'guardlist_rule_loads_total{kind="full"} > 0']), ['guardlist_decision_total'],
          'the name check finds a name outside the contract, and takes a histogram\'s _bucket')


h.run(main, timeout=60)
