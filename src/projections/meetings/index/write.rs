//! Writing the meetings index: each record filed under the meetings and segments it names,
//! an amendment's event under those its amended data names, and each meeting's bound lowered.

use super::*;

/// The entries of a catch-up, written a step at a time with the mark.
pub(super) struct Writer<'a> {
    store: &'a dyn EventStore,
    puts: Vec<(Vec<u8>, Vec<u8>)>,
    removes: Vec<Vec<u8>>,
    bounds: HashMap<String, Option<Bound>>,
    segments: HashMap<String, Option<String>>,
}

impl<'a> Writer<'a> {
    pub(super) fn new(store: &'a dyn EventStore) -> Self {
        Writer {
            store,
            puts: Vec::new(),
            removes: Vec::new(),
            bounds: HashMap::new(),
            segments: HashMap::new(),
        }
    }

    pub(super) fn pending(&self) -> usize {
        self.puts.len()
    }

    pub(super) fn write(&mut self, seq: u64, hash: &str) -> Result<(), StoreError> {
        let mark = Mark {
            version: PROJECTION_VERSION,
            format: FORMAT,
            seq,
            hash: hash.to_string(),
        };
        self.puts.push((
            MARK.to_vec(),
            serde_json::to_vec(&mark).expect("mark is JSON"),
        ));
        self.store.cache().write_batch(&self.puts, &self.removes)?;
        self.puts.clear();
        self.removes.clear();
        Ok(())
    }

    /// Indexes one record: an event under each meeting it names; an amendment, the event it
    /// amends under each meeting the amended data names.
    pub(super) fn record(&mut self, s: &Skimmed) -> Result<(), StoreError> {
        let at = || format!("seq {}", s.env.seq);
        let event = crate::domain::as_recorded(|| {
            DomainEvent::decode_text(&s.env.ty, s.env.version, &s.data)
        })
        .map_err(|e| corrupt(&at(), e))?;
        if let DomainEvent::EventAmended(a) = &event {
            let Some(target) = self.store.get(a.seq)? else {
                return Ok(());
            };
            let data = serde_json::Value::Object(a.data.clone());
            // Data that does not decode is the fold's to report; it names nothing here.
            let Ok(amended) = crate::domain::as_recorded(|| {
                DomainEvent::decode(&target.ty, target.version, &data)
            }) else {
                return Ok(());
            };
            let text = serde_json::value::to_raw_value(&target.data)
                .map_err(|e| corrupt(&format!("seq {}", a.seq), e))?;
            let target = Skimmed {
                env: target,
                data: text,
            };
            return self.event(&target, &amended);
        }
        self.event(s, &event)
    }

    fn event(&mut self, s: &Skimmed, e: &DomainEvent) -> Result<(), StoreError> {
        let names = Meetings::named(e);
        if names.is_empty() {
            return Ok(());
        }
        if let DomainEvent::MeetingSplit(m) = e {
            for seg in &m.segments {
                self.puts.push((
                    key(SEGMENT, &[seg.segment.as_str().as_bytes()]),
                    m.meeting.as_str().as_bytes().to_vec(),
                ));
                self.segments
                    .insert(seg.segment.0.clone(), Some(m.meeting.0.clone()));
            }
        }
        // Filed under each id named, and under the meeting a named segment belongs to; a
        // meeting's fold also reads what is filed under the segments its split names then.
        let mut files: Vec<String> = Vec::new();
        let mut bounded: Vec<String> = Vec::new();
        for name in &names.meetings {
            files.push(name.to_string());
            bounded.push(name.to_string());
        }
        for name in &names.either {
            files.push(name.to_string());
            if let Some(m) = self.meeting_of(name)? {
                files.push(m.clone());
                bounded.push(m);
            }
        }
        files.sort();
        files.dedup();
        bounded.sort();
        bounded.dedup();
        let entry = serde_json::to_vec(&Entry {
            ty: Cow::Borrowed(&s.env.ty),
            version: s.env.version,
            stream: Cow::Borrowed(&s.env.stream),
            occurred: s.env.occurred,
            data: &s.data,
        })
        .map_err(|e| corrupt(&format!("seq {}", s.env.seq), e))?;
        let earliest = earliest_day(e);
        let scheduled = matches!(e, DomainEvent::MeetingScheduled(_))
            .then(|| (s.env.seq, days(s.env.occurred.counts_from())));
        for f in &files {
            self.puts.push((
                key(EVENTS, &[f.as_bytes(), &[0], &s.env.seq.to_be_bytes()]),
                entry.clone(),
            ));
        }
        for m in &bounded {
            self.bound(m, earliest, scheduled)?;
        }
        Ok(())
    }

    /// The meeting a segment id belongs to, as the splits indexed so far say.
    fn meeting_of(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        if !self.segments.contains_key(name) {
            let found = self
                .store
                .cache()
                .get(&key(SEGMENT, &[name.as_bytes()]))?
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            self.segments.insert(name.to_string(), found);
        }
        Ok(self.segments[name].clone().filter(|m| m != name))
    }

    /// Lowers a meeting's bound by an event's earliest day and scheduling.
    fn bound(
        &mut self,
        meeting: &str,
        (earliest, open): (Option<i32>, bool),
        scheduled: Option<(u64, i32)>,
    ) -> Result<(), StoreError> {
        if !self.bounds.contains_key(meeting) {
            let stored = match self.store.cache().get(&key(BOUND, &[meeting.as_bytes()]))? {
                Some(b) => {
                    Some(serde_json::from_slice::<Bound>(&b).map_err(|e| corrupt(meeting, e))?)
                }
                None => None,
            };
            self.bounds.insert(meeting.to_string(), stored);
        }
        let old = self.bounds[meeting];
        let mut new = old.unwrap_or(Bound {
            start: i32::MAX,
            first: u64::MAX,
            counts: i32::MAX,
            open: false,
        });
        if let Some(d) = earliest {
            new.start = new.start.min(d);
        }
        new.open |= open;
        if let Some((seq, counts)) = scheduled {
            new.first = new.first.min(seq);
            new.counts = new.counts.min(counts);
        }
        if Some(new) == old {
            return Ok(());
        }
        if let Some(old) = old {
            self.removes.push(order_key(&old, meeting));
        }
        let value = serde_json::to_vec(&new).expect("bound is JSON");
        self.puts.push((order_key(&new, meeting), value.clone()));
        self.puts.push((key(BOUND, &[meeting.as_bytes()]), value));
        self.bounds.insert(meeting.to_string(), Some(new));
        Ok(())
    }
}

/// The fields of an event's data (at any depth) that hold the dates a meeting row can take:
/// its own `dates`, a segment's or session's `dates`, and the day an adjourned one resumes.
/// Other strings that read as a date (a meeting numbered "1901") bound nothing.
const DATE_FIELDS: [&str; 2] = ["dates", "resume"];

/// The earliest day any of an event's date fields starts, and whether one is open-ended: every
/// date a meeting row takes is one of its events' dates, or a split meeting's span of its
/// segments', which starts with the earliest of them or, when one is open-ended, on the first
/// of January of that one's year.
fn earliest_day(e: &DomainEvent) -> (Option<i32>, bool) {
    fn walk(v: &serde_json::Value, dated: bool, min: &mut Option<i32>, open: &mut bool) {
        match v {
            serde_json::Value::String(s) if dated => {
                if let Ok(d) = s.parse::<ApproxDate>() {
                    let start = days(d.start());
                    *min = Some(min.map_or(start, |m| m.min(start)));
                    *open |= d.end().is_none();
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, dated, min, open)),
            serde_json::Value::Object(o) => o
                .iter()
                .for_each(|(k, v)| walk(v, DATE_FIELDS.contains(&k.as_str()), min, open)),
            _ => {}
        }
    }
    let (mut min, mut open) = (None, false);
    if let Ok(v) = serde_json::to_value(e) {
        walk(&v, false, &mut min, &mut open);
    }
    (min, open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: serde_json::Value) -> DomainEvent {
        let batch = crate::input::parse_batch(&line.to_string()).unwrap();
        batch.into_iter().next().unwrap().event
    }

    fn day(s: &str) -> i32 {
        days(s.parse().unwrap())
    }

    #[test]
    fn only_date_fields_bound_a_meeting_start() {
        let scheduled = event(serde_json::json!({"id": "s", "type": "MeetingScheduled",
            "occurred": "1971-06-09", "actor": "a", "data": {"meeting": "mc-cop-1901",
            "body": "MC", "kind": "cop", "number": "1901", "title": "Meeting 1901",
            "dates": "1972-05-12/1972-05-14"}}));
        assert_eq!(earliest_day(&scheduled), (Some(day("1972-05-12")), false));
        let split = event(serde_json::json!({"id": "p", "type": "MeetingSplit",
            "occurred": "1971-07-01", "actor": "a", "data": {"meeting": "mc-cop-1901",
            "segments": [{"segment": "mc-cop-1901.1", "dates": "1972-05-10", "mode": "online"},
                         {"segment": "mc-cop-1901.2", "dates": "1973..", "mode": "in_person"}]}}));
        assert_eq!(earliest_day(&split), (Some(day("1972-05-10")), true));
        let adjourned = event(serde_json::json!({"id": "j", "type": "MeetingAdjourned",
            "occurred": "1972-05-14", "actor": "a", "data": {"meeting": "mc-cop-1901",
            "resume": "1972-11-02"}}));
        assert_eq!(earliest_day(&adjourned), (Some(day("1972-11-02")), false));
    }
}
