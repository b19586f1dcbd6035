# Writes fixtures/schedules.json. Python's zoneinfo is the oracle: an implementation of the
# time-zone rules independent of chrono-tz, so the Rust spec test checks one against the other.
# Run: python3 core/tests/schedules-oracle.py
# Independent oracle: Python's zoneinfo computes the local time; the window logic is restated here.
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
DAYS=["mon","tue","wed","thu","fri","sat","sun"]
def mins(t): h,m=t.split(":"); return int(h)*60+int(m)
def live(s, now):
    n=datetime.fromisoformat(now.replace("Z","+00:00"))
    if "start" in s and n < datetime.fromisoformat(s["start"].replace("Z","+00:00")): return False
    if "end" in s and n >= datetime.fromisoformat(s["end"].replace("Z","+00:00")): return False
    if not s.get("recurring"): return True
    loc=n.astimezone(ZoneInfo(s.get("timeZone","UTC")))
    day=DAYS[loc.weekday()]; prev=DAYS[(loc.weekday()-1)%7]; m=loc.hour*60+loc.minute
    for w in s["recurring"]:
        on=lambda d: not w.get("days") or d in w["days"]
        f,t=mins(w["from"]),mins(w["to"])
        if f<t:
            if on(day) and f<=m<t: return True
        elif (on(day) and m>=f) or (on(prev) and m<t): return True
    return False
cases=[]
def case(name, s, *nows):
    for now in nows:
        loc=datetime.fromisoformat(now.replace("Z","+00:00")).astimezone(ZoneInfo(s.get("timeZone","UTC")))
        cases.append({"name":f"{name} @ {now} (local {loc.strftime('%a %H:%M %Z')})","schedule":s,"now":now,"expected":live(s,now)})
office_berlin={"timeZone":"Europe/Berlin","recurring":[{"days":["mon","tue","wed","thu","fri"],"from":"09:00","to":"17:00"}]}
case("Berlin office hours, winter (UTC+1)", office_berlin, "2026-03-27T08:30:00Z","2026-03-27T15:30:00Z","2026-03-27T16:00:00Z","2026-03-27T07:59:00Z")
case("Berlin office hours, summer (UTC+2) after spring forward", office_berlin, "2026-03-30T07:30:00Z","2026-03-30T15:30:00Z","2026-03-30T06:59:00Z","2026-03-30T14:59:00Z")
case("Berlin office hours, weekend", office_berlin, "2026-03-28T10:00:00Z","2026-03-29T10:00:00Z")
case("Berlin office hours, after fall back (UTC+1 again)", office_berlin, "2026-10-26T07:30:00Z","2026-10-26T15:30:00Z","2026-10-23T15:30:00Z")
skipped={"timeZone":"Europe/Berlin","recurring":[{"from":"02:00","to":"03:00"}]}
case("Berlin 02:00-03:00 on the spring-forward night (the hour does not exist)", skipped, "2026-03-29T00:30:00Z","2026-03-29T00:59:00Z","2026-03-29T01:00:00Z","2026-03-29T01:30:00Z")
case("Berlin 02:00-03:00 the night before spring forward", skipped, "2026-03-28T01:30:00Z")
case("Berlin 02:00-03:00 on the fall-back night (the hour happens twice)", skipped, "2026-10-25T00:00:00Z","2026-10-25T00:30:00Z","2026-10-25T01:30:00Z","2026-10-25T02:00:00Z","2026-10-24T23:59:00Z")
office_ny={"timeZone":"America/New_York","recurring":[{"days":["mon","tue","wed","thu","fri"],"from":"09:00","to":"17:00"}]}
case("New York office hours around the March DST change", office_ny, "2026-03-06T13:30:00Z","2026-03-06T14:30:00Z","2026-03-09T13:30:00Z","2026-03-09T21:30:00Z","2026-03-06T21:30:00Z")
case("New York office hours around the November DST change", office_ny, "2026-10-30T13:30:00Z","2026-11-02T13:30:00Z","2026-11-02T14:30:00Z")
overnight={"timeZone":"Europe/Berlin","recurring":[{"days":["fri"],"from":"22:00","to":"02:00"}]}
case("Berlin Friday overnight 22:00-02:00", overnight, "2026-11-27T20:30:00Z","2026-11-27T21:30:00Z","2026-11-28T00:30:00Z","2026-11-28T01:00:00Z","2026-11-29T00:30:00Z","2026-11-26T21:30:00Z")
weekend_syd={"timeZone":"Australia/Sydney","recurring":[{"days":["sat","sun"],"from":"10:00","to":"12:00"}]}
case("Sydney weekend mornings across the April DST end and the date line", weekend_syd, "2026-04-04T23:30:00Z","2026-04-04T00:30:00Z","2026-04-03T23:30:00Z","2026-11-27T23:30:00Z","2026-11-28T23:30:00Z","2026-11-29T23:30:00Z","2026-10-03T22:30:00Z","2026-10-03T23:30:00Z")
kolkata={"timeZone":"Asia/Kolkata","recurring":[{"from":"09:00","to":"09:30"}]}
case("Kolkata half-hour offset", kolkata, "2026-11-25T03:15:00Z","2026-11-25T03:30:00Z","2026-11-25T03:59:00Z","2026-11-25T04:00:00Z")
evening={"recurring":[{"from":"18:00","to":"24:00"}]}
case("UTC evening to the end of the day", evening, "2026-11-25T17:59:00Z","2026-11-25T18:00:00Z","2026-11-25T23:59:00Z","2026-11-26T00:00:00Z")
bounded={"start":"2026-12-01T00:00:00Z","end":"2026-12-24T00:00:00Z","timeZone":"Europe/Berlin","recurring":[{"from":"08:00","to":"20:00"}]}
case("Advent campaign: absolute window and daily hours", bounded, "2026-11-30T12:00:00Z","2026-12-01T12:00:00Z","2026-12-01T19:30:00Z","2026-12-23T12:00:00Z","2026-12-24T12:00:00Z")
two={"timeZone":"America/Los_Angeles","recurring":[{"days":["mon"],"from":"08:00","to":"09:00"},{"days":["sun"],"from":"20:00","to":"21:00"}]}
case("Los Angeles, two windows", two, "2026-11-30T16:30:00Z","2026-11-30T04:30:00Z","2026-11-30T17:30:00Z","2026-11-29T04:30:00Z")
case("Absolute window only", {"start":"2026-11-25T00:00:00Z","end":"2026-11-26T00:00:00Z"}, "2026-11-24T23:59:59Z","2026-11-25T00:00:00Z","2026-11-26T00:00:00Z")
out = __import__("os").path.join(__import__("os").path.dirname(__file__), "fixtures", "schedules.json")
json.dump({"live":cases,"invalid":[
 {"schedule":{"timeZone":"Mars/Olympus","recurring":[{"from":"09:00","to":"10:00"}]},"field":"schedule.timeZone"},
 {"schedule":{"start":"2026-12-02T00:00:00Z","end":"2026-12-01T00:00:00Z"},"field":"schedule.end"},
 {"schedule":{"recurring":[{"from":"09:00","to":"10:00"},{"from":"10:00","to":"10:00"}]},"field":"schedule.recurring[1].to"},
 {"schedule":{"recurring":[{"from":"24:00","to":"02:00"}]},"field":"schedule.recurring[0].from"}
]},open(out,"w"),indent=1)
print(len(cases), sum(c["expected"] for c in cases))
