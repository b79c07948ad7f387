"""Rows for the statistics tests (156_stats.t, 153_web_overview_browser.t)
and the figures `guardlist stats` and the web overview must show for them,
worked out here in Python from the rows alone (not by the queries under test).

Challenges are placed by seconds before the database's NOW(), away from the
1-day and 7-day edges; the day-by-day series is counted by the database's
calendar dates, as the code under test counts it."""
import datetime
import statistics

import harness as h

KID, KID2, FAMILY = 'kid@family.test', 'kid2@family.test', 'family.test'
PARENT = 'parent@family.test'
HOUR, DAY = 3600, 86400
ODD = 'x<b>y@odd.example'           # markup in a sender: escaped on the page
LONG = '\u00e4' * 250 + '@x.de'      # 255 characters, 505 bytes: the longest sender

# (sender, recipient, status, first seen ago, decided ago or None, attempts, closed by a rule)
NAMED = [
    ('spam1@bad.example', KID, 'pending', 2 * HOUR, None, 5, False),
    ('spam1@bad.example', KID2, 'pending', 3 * DAY, None, 7, False),
    ('spam2@bad.example', KID, 'pending', 20 * DAY, None, 3, False),
    (ODD, KID2, 'pending', 1800, None, 4, False),
    ('friend1@ok.example', KID, 'approved', 5 * HOUR, 1 * HOUR, 1, False),          # 4 h to decide
    ('friend2@ok.example', KID, 'approved', 4 * DAY, 4 * DAY - 2 * HOUR, 1, False),  # 2 h
    ('friend3@ok.example', KID, 'approved', 2 * DAY, 2 * DAY - 60, 1, True),         # a rule: no person
    ('nope@bad.example', KID, 'denied', 6 * HOUR, 5 * HOUR, 2, False),               # 1 h
    ('old@bad.example', KID2, 'expired', 10 * DAY, 2 * DAY, 1, False),
    ('ancient@ok.example', KID, 'approved', 12 * DAY, 9 * DAY, 1, False),            # out of every window
    (LONG, KID, 'pending', 30 * DAY, None, 2, False),
]
# Nine more senders waiting since long ago: the list of those held off most
# often stops at ten.
MANY = [('p%d@many.example' % i, KID, 'pending', 40 * DAY, None, 1, False) for i in range(9)]
# The chart: k*3 % 5 challenges k days ago, approved ten minutes later by a rule.
FILL = [('f%d-%d@fill.example' % (k, j), KID2, 'approved', k * DAY + 2 * HOUR, k * DAY + 2 * HOUR - 600, 1, True)
        for k in range(30) for j in range((k * 3) % 5)]
ROWS = NAMED + MANY + FILL

# sender_rules (recipient, sender, action) and whitelist (sender, action)
SENDER_RULES = [(KID, 'a%d@ok.example' % i, 'OK') for i in range(4)] + \
               [(KID, 'b%d@bad.example' % i, 'REJECT not for you') for i in range(2)] + [(KID2, 'c@x.example', 'DUNNO')]
WHITELIST = [('school.example', 'OK'), ('spam.example', 'REJECT go away')]


def insert(db):
    """Inserts the rows into DB (schema loaded); returns the expected figures."""
    for r in (KID, KID2, FAMILY):
        db.sql("INSERT INTO protected_users (recipient) VALUES (%s)" % h.sql_str(r))
    db.sql("INSERT INTO guardians (recipient, email) VALUES (%s, %s)" % (h.sql_str(KID), h.sql_str(PARENT)))
    for rcpt, sender, action in SENDER_RULES:
        db.sql("INSERT INTO sender_rules (recipient, sender, action) VALUES (%s, %s, %s)"
               % (h.sql_str(rcpt), h.sql_str(sender), h.sql_str(action)))
    for sender, action in WHITELIST:
        db.sql("INSERT INTO whitelist (sender, action) VALUES (%s, %s)" % (h.sql_str(sender), h.sql_str(action)))
    now = db.sql("SELECT DATE_FORMAT(NOW(), '%Y-%m-%d %H:%i:%s')")[0][0]
    now = datetime.datetime.strptime(now, '%Y-%m-%d %H:%M:%S')
    values = []
    for sender, rcpt, status, first, decided, attempts, rule in ROWS:
        at = "TIMESTAMP '%s' - INTERVAL %d SECOND" % (now.strftime('%Y-%m-%d %H:%M:%S'), first)
        dec = ("TIMESTAMP '%s' - INTERVAL %d SECOND" % (now.strftime('%Y-%m-%d %H:%M:%S'), decided)
               if decided is not None else 'NULL')
        values.append("(%s, %s, %s, %s, %s, %s, %s, %s, %d, %s, %s)" % (
            h.sql_str(sender), h.sql_str(rcpt), h.sql_str(rcpt), h.sql_str(status),
            '1' if status == 'pending' else 'NULL', at, at, dec, attempts,
            "'test'" if decided is not None else 'NULL',
            h.sql_str('%s %s OK' % (rcpt, sender)) if rule else 'NULL'))
    db.sql("INSERT INTO challenges (sender, recipient, protected_key, status, is_open, first_seen, last_seen, "
           "decided_at, attempts, decided_by, decided_rule) VALUES " + ', '.join(values))
    return expected(now)


def expected(now):
    """The figures for ROWS as of NOW (a datetime, the database's clock)."""
    win = {'1d': DAY, '7d': 7 * DAY}
    ch = {w: {s: 0 for s in ('open', 'approved', 'denied', 'expired')} for w in win}
    for _, _, status, first, decided, _, _ in ROWS:
        for w, secs in win.items():
            if status == 'pending' and first < secs:
                ch[w]['open'] += 1
            elif status != 'pending' and decided < secs:
                ch[w][status] += 1
    times = [first - decided for _, _, status, first, decided, _, rule in ROWS
             if status in ('approved', 'denied') and not rule and decided < 7 * DAY]
    held = {}
    for sender, _, status, _, _, attempts, _ in ROWS:
        if status == 'pending':
            a, n = held.get(sender, (0, 0))
            held[sender] = (a + attempts, n + 1)
    top = sorted(held.items(), key=lambda kv: (-kv[1][0], kv[0]))[:10]
    today = now.date()
    days = [{'date': (today - datetime.timedelta(days=29 - i)).isoformat(), 'created': 0, 'approved': 0}
            for i in range(30)]
    for _, _, status, first, decided, _, _ in ROWS:
        for key, ago, want in (('created', first, True), ('approved', decided, status == 'approved')):
            if ago is None or not want:
                continue
            back = (today - (now - datetime.timedelta(seconds=ago)).date()).days
            if 0 <= back < 30:
                days[29 - back][key] += 1
    return {
        'date': today.isoformat(),
        'protected_recipients': 3,
        'rules': {'allow': 5, 'block': 3, 'other': 1},
        'open_now': sum(1 for r in ROWS if r[2] == 'pending'),
        'challenges': ch,
        'decisions_7d': len(times),
        'median_decision_seconds': float(statistics.median(times)) if times else None,
        'held_off': [{'sender': s, 'attempts': a, 'recipients': n} for s, (a, n) in top],
        'days': days,
    }
