//! The rules at record time (`domain::lifecycle`), on sled and on PostgreSQL: every refused
//! reference and transition of the life-cycle tables in ARCHITECTURE.md is tried on a base
//! history and refused with the field named, leaving the log as it was; what the tables allow
//! (references created earlier in the same batch, a confirmed resumption, a repeat with the
//! same content) is recorded. Then the same through `accord record` (exit 2, line and field).

use accord::input::parse_batch;
use accord::store::{EventStore, Outcome, PgStore, SledStore, StoreError};

use super::helpers::{pg_schema, Accord};

/// One event line of type `ty` with `data`.
fn ev(ty: &str, data: &str) -> String {
    format!(r#"{{"type":"{ty}","occurred":"2021-06","actor":"tester","data":{data}}}"#)
}

fn with_id(id: &str, line: &str) -> String {
    line.replacen('{', &format!(r#"{{"id":"{id}","#), 1)
}

fn meeting(id: &str, body: &str) -> String {
    ev(
        "MeetingScheduled",
        &format!(
            r#"{{"meeting":"{id}","body":"{body}","kind":"cop","title":"Meeting {id}","dates":"2021-11-01/2021-11-05"}}"#
        ),
    )
}

/// The history every case starts from.
fn base() -> Vec<String> {
    vec![
        meeting("cop-a", "MC"),
        meeting("cop-b", "MC"),
        ev(
            "MeetingSplit",
            r#"{"meeting":"cop-b","segments":[{"segment":"cop-b.1","dates":"2021-11"},{"segment":"cop-b.2","dates":"2022-Q1"}]}"#,
        ),
        meeting("cop-c", "MC"),
        ev("MeetingCancelled", r#"{"meeting":"cop-c"}"#),
        meeting("cop-d", "MC"),
        ev(
            "MeetingHeld",
            r#"{"meeting":"cop-d","dates":"2021-11-01/2021-11-05"}"#,
        ),
        meeting("cop-e", "MC"),
        ev("MeetingAdjourned", r#"{"meeting":"cop-e","resume":"2022"}"#),
        meeting("brs-x", "BRS"),
        ev(
            "DecisionAdopted",
            r#"{"symbol":"D-1/1","meeting":"cop-a","title":"A decision","adopted":"2021-11-05","mandates":[{"paragraph":"1","action":"requests","addressee":"mc-executive-secretary","asks":"To report"}]}"#,
        ),
        ev(
            "DecisionAdopted",
            r#"{"symbol":"D-1/2","meeting":"cop-a","title":"Another","adopted":"2021-11-05","mandates":[{"paragraph":"1","action":"requests","addressee":"mc-executive-secretary","asks":"To act"}]}"#,
        ),
        ev(
            "MandateStatusChanged",
            r#"{"decision":"D-1/2","paragraph":"1","status":"implemented"}"#,
        ),
        ev(
            "GroupEstablished",
            r#"{"group":"g1","name":"Group one","kind":"working_group","scope":"tripartite","members":["mc_secretariat"]}"#,
        ),
        ev(
            "GroupEstablished",
            r#"{"group":"g-old","name":"Old group","kind":"working_group","scope":"tripartite","members":["mc_secretariat"]}"#,
        ),
        ev("GroupDissolved", r#"{"group":"g-old"}"#),
        ev(
            "ReportDrafted",
            r#"{"report":"r1","title":"Report one","by":["tf-co-chair-mc"]}"#,
        ),
        ev(
            "ReportDrafted",
            r#"{"report":"r2","title":"Report two","by":["tf-co-chair-mc"]}"#,
        ),
        ev(
            "ReportSubmitted",
            r#"{"report":"r2","meeting":"cop-a","document":"UNEP/MC/COP.9/INF/1"}"#,
        ),
        ev(
            "PartyJoined",
            r#"{"body":"MC","party":"che","name":"Switzerland","joined":"2017-08-16"}"#,
        ),
        ev(
            "BodyRegistered",
            r#"{"body":"CBD","name":"Convention on Biological Diversity","meeting_kinds":["cop","bureau"]}"#,
        ),
        ev(
            "NationalReportReceived",
            r#"{"body":"MC","party":"che","cycle":"2021","kind":"full","received":"2021-10-01"}"#,
        ),
    ]
}

/// Each mistake, the field the refusal names, and a fragment of its message.
const REFUSED: &[(&str, &str, &str, &str)] = &[
    (
        "MeetingScheduled",
        r#"{"meeting":"cop-a","body":"MC","kind":"cop","title":"Again","dates":"2022"}"#,
        "data.meeting",
        "MeetingRescheduled",
    ),
    (
        "MeetingScheduled",
        r#"{"meeting":"cop-b.1","body":"MC","kind":"cop","title":"A segment's id","dates":"2022"}"#,
        "data.meeting",
        "already a segment",
    ),
    (
        "MeetingScheduled",
        r#"{"meeting":"cop-z","body":"XYZ","kind":"cop","title":"Unknown body","dates":"2022"}"#,
        "data.body",
        "no body `XYZ`",
    ),
    (
        "MeetingScheduled",
        r#"{"meeting":"cop-z","body":"BRS","bodies":["BC","QQ"],"kind":"cop","title":"Unknown member","dates":"2022"}"#,
        "data.bodies[1]",
        "no body `QQ`",
    ),
    (
        "MeetingHeld",
        r#"{"meeting":"cop-zz","dates":"2021-11"}"#,
        "data.meeting",
        "no meeting `cop-zz`",
    ),
    (
        "MeetingHeld",
        r#"{"meeting":"cop-b.1","dates":"2021-11"}"#,
        "data.meeting",
        "is a segment of `cop-b`",
    ),
    (
        "MeetingHeld",
        r#"{"meeting":"cop-b","segment":"cop-b.3","dates":"2021-11"}"#,
        "data.segment",
        "has no segment `cop-b.3`",
    ),
    (
        "MeetingHeld",
        r#"{"meeting":"cop-a","segment":"cop-b.2","dates":"2021-11"}"#,
        "data.segment",
        "was not split",
    ),
    (
        "MeetingHeld",
        r#"{"meeting":"brs-x","segment":"x.1","dates":"2021-11"}"#,
        "data.segment",
        "was not split",
    ),
    (
        "MeetingHeld",
        r#"{"meeting":"cop-b","dates":"2021-11"}"#,
        "data.segment",
        "record MeetingHeld for each segment",
    ),
    (
        "MeetingHeld",
        r#"{"meeting":"cop-d","dates":"2021-11-01/2021-11-05"}"#,
        "type",
        "was held",
    ),
    (
        "MeetingHeld",
        r#"{"meeting":"cop-c","dates":"2021-11"}"#,
        "type",
        "was cancelled",
    ),
    (
        "MeetingHeld",
        r#"{"meeting":"cop-e","dates":"2021-11"}"#,
        "type",
        "record MeetingResumed",
    ),
    (
        "MeetingRescheduled",
        r#"{"meeting":"cop-c","dates":"2022"}"#,
        "type",
        "only a correction",
    ),
    (
        "MeetingRescheduled",
        r#"{"meeting":"cop-d","dates":"2022"}"#,
        "type",
        "was held",
    ),
    (
        "MeetingConfirmed",
        r#"{"meeting":"cop-b","dates":"2021-11-01/2021-11-03"}"#,
        "data.segment",
        "name the segment",
    ),
    (
        "MeetingPostponed",
        r#"{"meeting":"cop-c"}"#,
        "type",
        "was cancelled",
    ),
    (
        "MeetingPostponed",
        r#"{"meeting":"cop-zz"}"#,
        "data.meeting",
        "no meeting",
    ),
    (
        "MeetingSplit",
        r#"{"meeting":"cop-b","segments":[{"segment":"cop-b.8","dates":"2022"},{"segment":"cop-b.9","dates":"2023"}]}"#,
        "data.meeting",
        "already split",
    ),
    (
        "MeetingSplit",
        r#"{"meeting":"cop-a","segments":[{"segment":"cop-a.1","dates":"2022"},{"segment":"cop-d","dates":"2023"}]}"#,
        "data.segments[1].segment",
        "already names",
    ),
    (
        "MeetingSplit",
        r#"{"meeting":"cop-a","segments":[{"segment":"cop-a.1","dates":"2022"},{"segment":"cop-a.1","dates":"2023"}]}"#,
        "data.segments[1].segment",
        "given twice",
    ),
    (
        "MeetingSplit",
        r#"{"meeting":"cop-d","segments":[{"segment":"cop-d.1","dates":"2022"},{"segment":"cop-d.2","dates":"2023"}]}"#,
        "type",
        "was held",
    ),
    (
        "MeetingAdjourned",
        r#"{"meeting":"cop-e"}"#,
        "type",
        "already adjourned",
    ),
    (
        "MeetingAdjourned",
        r#"{"meeting":"cop-c"}"#,
        "type",
        "was cancelled",
    ),
    (
        "MeetingResumed",
        r#"{"meeting":"cop-a","dates":"2022-02-01"}"#,
        "type",
        "is not adjourned",
    ),
    (
        "MeetingResumed",
        r#"{"meeting":"cop-d","dates":"2022-02-01"}"#,
        "type",
        "was held",
    ),
    (
        "MeetingCancelled",
        r#"{"meeting":"cop-d"}"#,
        "type",
        "was held",
    ),
    (
        "MeetingCancelled",
        r#"{"meeting":"cop-c"}"#,
        "type",
        "was cancelled",
    ),
    (
        "MeetingCancelled",
        r#"{"meeting":"cop-b","segment":"cop-a"}"#,
        "data.segment",
        "has no segment",
    ),
    (
        "DecisionAdopted",
        r#"{"symbol":"D-1/1","meeting":"cop-a","title":"Again","adopted":"2021-11-05"}"#,
        "data.symbol",
        "already recorded",
    ),
    (
        "DecisionAdopted",
        r#"{"symbol":"D-1/9","meeting":"cop-zz","title":"Nowhere","adopted":"2021-11-05"}"#,
        "data.meeting",
        "no meeting or segment `cop-zz`",
    ),
    (
        "DecisionAdopted",
        r#"{"symbol":"D-1/9","meeting":"cop-c","title":"Cancelled","adopted":"2021-11-05"}"#,
        "data.meeting",
        "was cancelled",
    ),
    (
        "DecisionAdopted",
        r#"{"symbol":"D-1/9","meeting":"cop-a","segment":"cop-b.1","title":"Other's segment","adopted":"2021-11-05"}"#,
        "data.segment",
        "has no segment",
    ),
    (
        "DecisionAdopted",
        r#"{"symbol":"D-1/9","meeting":"cop-a","body":"UNEA","title":"Wrong body","adopted":"2021-11-05"}"#,
        "data.body",
        "UNEA does not meet at `cop-a`",
    ),
    (
        "DecisionAdopted",
        r#"{"symbol":"D-1/9","meeting":"brs-x","body":"MC","title":"Not a member","adopted":"2021-11-05"}"#,
        "data.body",
        "does not meet",
    ),
    (
        "DecisionAdopted",
        r#"{"symbol":"D-1/9","meeting":"cop-a","title":"Supersedes nothing","adopted":"2021-11-05","supersedes":["X-9/9"]}"#,
        "data.supersedes[0]",
        "no decision `X-9/9`",
    ),
    (
        "DecisionAdopted",
        r#"{"symbol":"D-1/9","meeting":"cop-a","title":"Mirrors nothing","adopted":"2021-11-05","mirrors":["X-9/8"]}"#,
        "data.mirrors[0]",
        "no decision",
    ),
    (
        "MandateStatusChanged",
        r#"{"decision":"D-7/7","paragraph":"1","status":"in_progress"}"#,
        "data.decision",
        "no decision `D-7/7`",
    ),
    (
        "MandateStatusChanged",
        r#"{"decision":"D-1/1","paragraph":"7","status":"in_progress"}"#,
        "data.paragraph",
        "no paragraph `7`",
    ),
    (
        "MandateStatusChanged",
        r#"{"decision":"D-1/1","paragraph":"1","status":"active"}"#,
        "data.status",
        "already active",
    ),
    (
        "MandateStatusChanged",
        r#"{"decision":"D-1/2","paragraph":"1","status":"in_progress"}"#,
        "data.status",
        "closes it",
    ),
    (
        "GroupEstablished",
        r#"{"group":"g1","name":"Again","kind":"working_group","scope":"tripartite","members":["mc_secretariat"]}"#,
        "data.group",
        "already recorded",
    ),
    (
        "GroupEstablished",
        r#"{"group":"g2","name":"Orphan","kind":"subgroup","scope":"tripartite","members":["mc_secretariat"],"parent":"g-none"}"#,
        "data.parent",
        "no group `g-none`",
    ),
    (
        "GroupEstablished",
        r#"{"group":"g2","name":"Under a dissolved group","kind":"subgroup","scope":"tripartite","members":["mc_secretariat"],"parent":"g-old"}"#,
        "data.parent",
        "dissolved",
    ),
    (
        "GroupEstablished",
        r#"{"group":"g2","name":"Implements nothing","kind":"working_group","scope":"tripartite","members":["mc_secretariat"],"implements":"D-1/1#4"}"#,
        "data.implements",
        "no paragraph `4`",
    ),
    (
        "LeadOfficerChanged",
        r#"{"group":"g-old","entity":"mc_secretariat","officer":"someone"}"#,
        "data.group",
        "dissolved",
    ),
    (
        "CoChairsAppointed",
        r#"{"group":"g-none","co_chairs":[{"officer":"someone"}]}"#,
        "data.group",
        "no group",
    ),
    (
        "TermsOfReferenceAdopted",
        r#"{"group":"g-none"}"#,
        "data.group",
        "no group",
    ),
    (
        "GroupScopeExtended",
        r#"{"group":"g-old","scope":"tripartite","added_members":["unep_chb"]}"#,
        "data.group",
        "dissolved",
    ),
    (
        "GroupDissolved",
        r#"{"group":"g-old"}"#,
        "data.group",
        "dissolved",
    ),
    (
        "GroupsReviewed",
        r#"{"by":"g1","groups":["g1","g-none"]}"#,
        "data.groups[1]",
        "no group",
    ),
    (
        "ActivityReported",
        r#"{"activity":"a1","group":"g-none","title":"Nobody's"}"#,
        "data.group",
        "no group",
    ),
    (
        "ActivityReported",
        r#"{"activity":"a1","group":"g1","title":"Nowhere","meetings":["cop-a","cop-zz"]}"#,
        "data.meetings[1]",
        "no meeting",
    ),
    (
        "ReportEndorsed",
        r#"{"report":"r-none","by":["someone"]}"#,
        "data.report",
        "no report `r-none`",
    ),
    (
        "ReportEndorsed",
        r#"{"report":"r2","by":["someone"]}"#,
        "type",
        "already submitted",
    ),
    (
        "ReportDrafted",
        r#"{"report":"r1","title":"Again","by":["someone"]}"#,
        "data.report",
        "already recorded",
    ),
    (
        "ReportDrafted",
        r#"{"report":"r3","title":"For nothing","by":["someone"],"decision":"D-5/5"}"#,
        "data.decision",
        "no decision",
    ),
    (
        "ReportSubmitted",
        r#"{"report":"r1","meeting":"cop-zz","document":"UNEP/MC/COP.9/INF/2"}"#,
        "data.meeting",
        "no meeting",
    ),
    (
        "ReportSubmitted",
        r#"{"report":"r1","meeting":"cop-a","document":"UNEP/MC/COP.9/INF/2","reports_on":["D-1/1#9"]}"#,
        "data.reports_on[0]",
        "no paragraph `9`",
    ),
    (
        "ReportFiled",
        r#"{"report":"r-none","repository":"g1"}"#,
        "data.report",
        "no report",
    ),
    (
        "DocumentPosted",
        r#"{"document":"UNEP/MC/COP.9/1","meeting":"cop-c","kind":"provisional_agenda","title":"Agenda"}"#,
        "data.meeting",
        "was cancelled",
    ),
    (
        "DocumentPosted",
        r#"{"document":"UNEP/MC/COP.9/1","meeting":"cop-b.7","kind":"provisional_agenda","title":"Agenda"}"#,
        "data.meeting",
        "no meeting or segment",
    ),
    (
        "AgreementSigned",
        r#"{"agreement":"ag1","title":"An agreement","parties":["mc_secretariat"],"implements":"Q-1/1"}"#,
        "data.implements",
        "no decision",
    ),
    (
        "AgreementSigned",
        r#"{"agreement":"ag1","title":"An agreement","parties":["mc_secretariat"],"for_meeting":"cop-zz"}"#,
        "data.for_meeting",
        "no meeting",
    ),
    (
        "BodyRegistered",
        r#"{"body":"MC","name":"Again"}"#,
        "data.body",
        "already recorded",
    ),
    (
        "BodyRegistered",
        r#"{"body":"JOINT","name":"Joint","members":["MC","NOPE"]}"#,
        "data.members[1]",
        "no body `NOPE`",
    ),
    (
        "PartyJoined",
        r#"{"body":"XYZ","party":"fra","name":"France","joined":"2017-08-16"}"#,
        "data.body",
        "no body",
    ),
    (
        "PartyJoined",
        r#"{"body":"MC","party":"che","name":"Switzerland","joined":"2017-08-16"}"#,
        "data.party",
        "already a Party",
    ),
    (
        "NationalReportReceived",
        r#"{"body":"MC","party":"fra","cycle":"2021","kind":"full","received":"2021-10-01"}"#,
        "data.party",
        "not a Party",
    ),
    (
        "NationalReportReceived",
        r#"{"body":"MC","party":"che","cycle":"2021","kind":"full","received":"2021-10-02"}"#,
        "data.party",
        "already recorded",
    ),
    (
        "NationalReportReceived",
        r#"{"body":"MC","party":"che","cycle":"2017","kind":"full","received":"2017-01-02"}"#,
        "data.received",
        "became a Party",
    ),
    (
        "MeetingPostponed",
        r#"{"meeting":"cop-b","dates":"2023"}"#,
        "data.segment",
        "name the segment",
    ),
    (
        "ReportSubmitted",
        r#"{"report":"r1","meeting":"cop-a","document":"UNEP/MC/COP.9/INF/3","reports_on":["D-1/1"]}"#,
        "data.reports_on[0]",
        "give a mandate as SYMBOL#paragraph",
    ),
    (
        "MeetingScheduled",
        r#"{"meeting":"cbd-oewg-1","body":"CBD","kind":"oewg","title":"Not a kind it holds","dates":"2022"}"#,
        "data.kind",
        "CBD holds no meeting of this kind (its kinds: cop, bureau)",
    ),
];

fn open_sled() -> (Box<dyn EventStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Box::new(SledStore::open(dir.path()).unwrap()), dir)
}

fn refused_mistakes_leave_the_log_as_it_was(store: &dyn EventStore) {
    store
        .append(parse_batch(&base().join("\n")).unwrap())
        .expect("the base history records");
    let head = store.head();
    for (ty, data, field, fragment) in REFUSED {
        let line = ev(ty, data);
        // Alone, and after a valid event in the same batch: the batch is refused whole.
        for batch in [
            vec![line.clone()],
            vec![meeting("cop-new", "MC"), line.clone()],
        ] {
            let at = batch.len() - 1;
            match store.append(parse_batch(&batch.join("\n")).unwrap()) {
                Err(StoreError::Refused {
                    index,
                    field: f,
                    message,
                }) => {
                    assert_eq!(index, at, "{line}: wrong event named");
                    assert_eq!(f, *field, "{line}: wrong field ({message})");
                    assert!(
                        message.contains(fragment),
                        "{line}: `{message}` does not say `{fragment}`"
                    );
                }
                other => panic!("{line}: expected a refusal naming {field}, got {other:?}"),
            }
            assert_eq!(store.head(), head, "{line}: the log changed");
        }
    }
}

/// What the tables allow: references created earlier in the same batch; a repeat with the
/// same content (a duplicate); an adjourned meeting's next session confirmed, then resumed and
/// held; a postponement to dates to be determined; a decision at a segment with its own body.
fn what_the_tables_allow_is_recorded(store: &dyn EventStore) {
    store
        .append(parse_batch(&base().join("\n")).unwrap())
        .unwrap();
    let batch = [
        meeting("cop-f", "MC"),
        ev(
            "MeetingSplit",
            r#"{"meeting":"cop-f","segments":[{"segment":"cop-f.1","dates":"2021-11"},{"segment":"cop-f.2","dates":"2022"}]}"#,
        ),
        ev(
            "DecisionAdopted",
            r#"{"symbol":"D-2/1","meeting":"cop-f","segment":"cop-f.1","title":"At a segment","adopted":"2021-11-05","mirrors":["D-1/1"]}"#,
        ),
        ev(
            "DecisionAdopted",
            r#"{"symbol":"BC-1/1","meeting":"brs-x","body":"BC","title":"A Basel decision at a joint meeting","adopted":"2021-11-05"}"#,
        ),
        ev(
            "MeetingPostponed",
            r#"{"meeting":"cop-f","segment":"cop-f.2","reason":"to be determined"}"#,
        ),
        ev(
            "MeetingConfirmed",
            r#"{"meeting":"cop-e","dates":"2022-03-01/2022-03-03","venue":"Rome"}"#,
        ),
        ev(
            "MeetingResumed",
            r#"{"meeting":"cop-e","dates":"2022-03-01/2022-03-03","venue":"Rome"}"#,
        ),
        ev(
            "MeetingHeld",
            r#"{"meeting":"cop-e","dates":"2022-03-01/2022-03-03"}"#,
        ),
        ev(
            "MandateStatusChanged",
            r#"{"decision":"D-1/1","paragraph":"1","status":"in_progress"}"#,
        ),
        ev(
            "ActivityReported",
            r#"{"activity":"a1","group":"g1","title":"At a segment","meetings":["cop-f.1"]}"#,
        ),
        with_id("same", &meeting("cop-g", "MC")),
        // A body recorded as data takes its meetings, Parties and reports like a shipped one.
        meeting("cbd-cop-15", "CBD"),
        ev(
            "PartyJoined",
            r#"{"body":"CBD","party":"bra","name":"Brazil","joined":"1994-05-29"}"#,
        ),
        // A meeting whose first segment sat, the rest cancelled, still takes its decisions.
        ev(
            "MeetingHeld",
            r#"{"meeting":"cop-b","segment":"cop-b.1","dates":"2021-11"}"#,
        ),
        ev("MeetingCancelled", r#"{"meeting":"cop-b"}"#),
        ev(
            "DecisionAdopted",
            r#"{"symbol":"D-3/1","meeting":"cop-b","segment":"cop-b.1","title":"Adopted at the segment that sat","adopted":"2021-11-05","supersedes":["D-1/1"]}"#,
        ),
    ];
    let out = store
        .append(parse_batch(&batch.join("\n")).unwrap())
        .unwrap();
    assert!(out.iter().all(|o| matches!(o, Outcome::Recorded(_))));
    // The same id with the same content: a duplicate, nothing written.
    let head = store.head();
    let again = store
        .append(parse_batch(&with_id("same", &meeting("cop-g", "MC"))).unwrap())
        .unwrap();
    assert!(matches!(&again[0], Outcome::Duplicate { id, .. } if id == "same"));
    assert_eq!(store.head(), head);
    // D-1/1 superseded: its mandates are closed, as the read model shows them.
    let closed = ev(
        "MandateStatusChanged",
        r#"{"decision":"D-1/1","paragraph":"1","status":"implemented"}"#,
    );
    assert!(matches!(
        store.append(parse_batch(&closed).unwrap()),
        Err(StoreError::Refused { .. })
    ));
}

/// The same id with other content is a conflict, in the log or within one batch.
fn an_id_with_other_content_conflicts(store: &dyn EventStore) {
    store
        .append(parse_batch(&with_id("m1", &meeting("cop-a", "MC"))).unwrap())
        .unwrap();
    let head = store.head();
    let other = with_id("m1", &meeting("cop-b", "MC"));
    match store.append(parse_batch(&other).unwrap()) {
        Err(StoreError::IdConflict {
            index: 0,
            id,
            seq: 1,
        }) => assert_eq!(id, "m1"),
        other => panic!("expected an id conflict, got {other:?}"),
    }
    let twice = [
        with_id("m2", &meeting("cop-c", "MC")),
        with_id("m2", &meeting("cop-d", "MC")),
    ];
    match store.append(parse_batch(&twice.join("\n")).unwrap()) {
        Err(StoreError::IdConflict { index: 1, id, .. }) => assert_eq!(id, "m2"),
        other => panic!("expected an id conflict within the batch, got {other:?}"),
    }
    assert_eq!(store.head(), head, "nothing written");
}

/// A retraction takes effect on the rules: the retracted meeting may be scheduled again.
fn a_retraction_frees_the_id_it_withdrew(store: &dyn EventStore) {
    store
        .append(parse_batch(&meeting("cop-a", "MC")).unwrap())
        .unwrap();
    let retract = ev("EventRetracted", r#"{"seq":1,"reason":"typo"}"#);
    store.append(parse_batch(&retract).unwrap()).unwrap();
    store
        .append(parse_batch(&meeting("cop-a", "MC")).unwrap())
        .expect("scheduled again after its retraction");
    let refused = store.append(parse_batch(&meeting("cop-a", "MC")).unwrap());
    assert!(
        matches!(refused, Err(StoreError::Refused { .. })),
        "{refused:?}"
    );
    // A status change retracted (undone in place, without folding the log again): the mandate
    // is open again; an activity retracted frees its id.
    let base = [
        ev(
            "DecisionAdopted",
            r#"{"symbol":"D-1/1","meeting":"cop-a","title":"A decision","adopted":"2021-11-05","mandates":[{"paragraph":"1","action":"requests","addressee":"someone","asks":"To act"}]}"#,
        ),
        ev(
            "MandateStatusChanged",
            r#"{"decision":"D-1/1","paragraph":"1","status":"implemented"}"#,
        ),
        ev(
            "GroupEstablished",
            r#"{"group":"g1","name":"Group one","kind":"working_group","scope":"tripartite","members":["mc_secretariat"]}"#,
        ),
        ev(
            "ActivityReported",
            r#"{"activity":"a1","group":"g1","title":"Once"}"#,
        ),
    ];
    store
        .append(parse_batch(&base.join("\n")).unwrap())
        .unwrap();
    let implemented = store.head().seq - 2;
    let activity = store.head().seq;
    let retract = |seq: u64| {
        ev(
            "EventRetracted",
            &format!(r#"{{"seq":{seq},"reason":"typo"}}"#),
        )
    };
    store
        .append(parse_batch(&[retract(implemented), retract(activity)].join("\n")).unwrap())
        .unwrap();
    let again = [
        ev(
            "MandateStatusChanged",
            r#"{"decision":"D-1/1","paragraph":"1","status":"in_progress"}"#,
        ),
        ev(
            "ActivityReported",
            r#"{"activity":"a1","group":"g1","title":"Again"}"#,
        ),
    ];
    store
        .append(parse_batch(&again.join("\n")).unwrap())
        .expect("open again after the retractions");
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sled {
            $(
                #[test]
                fn $name() {
                    let (store, _dir) = super::open_sled();
                    super::$name(&*store);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(schema) = super::pg_schema(stringify!($name)) {
                        let store = super::PgStore::open(&schema.url).unwrap();
                        super::$name(&store);
                    }
                }
            )*
        }
    };
}

both_backends!(
    refused_mistakes_leave_the_log_as_it_was,
    what_the_tables_allow_is_recorded,
    an_id_with_other_content_conflicts,
    a_retraction_frees_the_id_it_withdrew,
);

/// Through the command line: exit 2, the file, line and field named, `verify` unchanged.
#[test]
fn accord_record_refuses_with_line_and_field() {
    let a = Accord::new();
    assert_eq!(a.record_text(&base().join("\n")).code, 0);
    let verified = a.run(&["verify"]).stdout;
    let bad = [
        meeting("cop-new", "MC"),
        ev(
            "MeetingHeld",
            r#"{"meeting":"cop-b","segment":"cop-b.3","dates":"2021-11"}"#,
        ),
    ];
    let run = a.record_text(&bad.join("\n"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("line 2: data.segment: `cop-b` has no segment `cop-b.3`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing recorded"), "{}", run.stderr);
    assert_eq!(a.run(&["verify"]).stdout, verified);
    let conflict = a.record_text(&with_id("x1", &meeting("cop-x", "MC")));
    assert_eq!(conflict.code, 0);
    let run = a.record_text(&with_id("x1", &meeting("cop-y", "MC")));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("id: `x1` is already recorded"),
        "{}",
        run.stderr
    );
}

/// A log written before the rules (records built as an earlier build wrote them, imported
/// whole) reads as before; `accord check` names each record the rules would now refuse, exit 1,
/// and rewrites nothing. The shipped history and the golden stores keep the rules.
#[test]
fn accord_check_reports_old_records_that_break_the_rules() {
    use accord::envelope::{Envelope, ZERO_HASH};
    let lines = [
        meeting("cop-a", "MC"),
        // A typo'd meeting held, and a meeting scheduled twice (its decisions wiped, then).
        ev("MeetingHeld", r#"{"meeting":"cop-typo","dates":"2021-11"}"#),
        meeting("cop-a", "MC"),
        ev(
            "DecisionAdopted",
            r#"{"symbol":"D-1/1","meeting":"cop-a","title":"A decision","adopted":"2021-11-05","mandates":[{"paragraph":"1","action":"requests","addressee":"someone","asks":"To report","report_at":"cop-never"}]}"#,
        ),
    ];
    let mut prev = ZERO_HASH.to_string();
    let mut positions = std::collections::HashMap::new();
    let mut export = String::new();
    for (i, l) in lines.iter().enumerate() {
        let p = parse_batch(l).unwrap().remove(0);
        let position = positions.entry(p.stream.clone()).or_insert(0u64);
        *position += 1;
        let mut env = Envelope {
            seq: i as u64 + 1,
            id: format!("old-{i}"),
            recorded_at: "2021-12-01T00:00:00.000000Z".into(),
            ty: p.ty,
            version: p.version,
            stream: p.stream,
            position: *position,
            occurred: p.occurred,
            actor: p.actor,
            correlation_id: None,
            causation_id: None,
            data: p.data,
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        env.seal();
        prev = env.hash.clone();
        export.push_str(&env.to_canonical());
        export.push('\n');
    }
    let a = Accord::new();
    let file = a.dir.path().join("old.jsonl");
    std::fs::write(&file, &export).unwrap();
    let r = a.run(&["import", file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let check = a.run(&["check"]);
    assert_eq!(check.code, 1, "{}", check.stdout);
    for expected in [
        "seq 2 (MeetingHeld in meeting/cop-typo): data.meeting: no meeting `cop-typo`",
        "seq 3 (MeetingScheduled in meeting/cop-a): data.meeting: `cop-a` is already scheduled",
        "seq 4 (DecisionAdopted): mandate D-1/1#1 reports at `cop-never`",
        "3 of 4 records break the rules",
    ] {
        assert!(
            check.stdout.contains(expected),
            "{expected}: {}",
            check.stdout
        );
    }
    assert_eq!(a.export(), export, "nothing rewritten");
    // The shipped history keeps them.
    let shipped = Accord::new();
    shipped.record(&super::helpers::history());
    let clean = shipped.run(&["check"]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
}
