//! The pages of one group and of one report: the work a governing body set up and what it
//! is to deliver, with their mandates, deadlines and trail.

use super::*;

/// `/groups/{id}`.
/// The page of one group.
pub(in crate::api::pages) async fn group(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    show(&state, &caller, &q, "group", &id, group_sections).await
}

/// `group` page sections: its title and tables, or `None` when the log has no such group.
pub(crate) fn group_sections(
    store: &dyn EventStore,
    views: &Views,
    _role: Role,
    id: &str,
) -> Result<Option<Detail>, StoreError> {
    let id = id.to_string();
    let Some(g) = views.groups.0.get(&id) else {
        return Ok(None);
    };
    let name = |v: &dyn crate::api::pages::erased_serialize::Ser| v.name();
    let mut facts = vec![
        cells(vec!["Name".into(), g.name.clone()]),
        cells(vec!["Kind".into(), name(&g.kind)]),
        cells(vec!["Scope".into(), name(&g.scope)]),
        cells(vec!["Area".into(), g.area.clone().unwrap_or_default()]),
        cells(vec![
            "Members".into(),
            g.members
                .iter()
                .map(|m| name(m))
                .collect::<Vec<_>>()
                .join(", "),
        ]),
        cells(vec!["Co-chairs".into(), g.co_chairs.join(", ")]),
        cells(vec![
            "Lead officers".into(),
            g.lead_officers
                .iter()
                .map(|l| format!("{}: {}", name(&l.entity), l.officer))
                .collect::<Vec<_>>()
                .join(", "),
        ]),
        cells(vec!["Established".into(), g.established.to_string()]),
        cells(vec![
            "Status".into(),
            match &g.dissolved {
                Some(d) => format!("dissolved {d}"),
                None => "active".into(),
            },
        ]),
    ];
    if let Some(p) = &g.parent {
        facts.push(vec![Value::from("Works under"), link(p, group_href(p))]);
    }
    if let Some(i) = &g.implements {
        facts.push(vec![Value::from("Implements"), decision_link(i)]);
    }
    let subgroups = views
        .groups
        .0
        .values()
        .filter(|s| s.parent.as_deref() == Some(id.as_str()))
        .map(|s| {
            vec![
                link(&s.group, group_href(&s.group)),
                Value::from(s.name.clone()),
            ]
        })
        .collect();
    let activities = views
        .reports
        .activities
        .values()
        .filter(|x| x.group == id)
        .map(|x| {
            cells(vec![
                x.on.to_string(),
                x.title.clone(),
                x.area.clone().unwrap_or_default(),
                x.meetings.join(", "),
            ])
        })
        .collect();
    let reports = views
        .reports
        .reports
        .values()
        .filter(|r| r.group.as_deref() == Some(id.as_str()))
        .map(|r| {
            vec![
                link(&r.report, report_href(&r.report)),
                Value::from(r.title.clone()),
            ]
        })
        .collect();
    let trail = trail_table(store, &format!("group/{id}"))?;
    Ok(Some((
        format!("{} ({id})", g.name),
        vec![
            table("", &["", ""], facts),
            table("Groups under it", &["Group", "Name"], subgroups),
            table(
                "Activities",
                &["On", "Activity", "Area", "Meetings"],
                activities,
            ),
            table("Reports", &["Report", "Title"], reports),
            trail,
        ],
    )))
}

/// `/reports/{id}`.
/// The page of one report.
pub(in crate::api::pages) async fn report(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    UrlQuery(q): UrlQuery<PageQuery>,
) -> Response {
    show(&state, &caller, &q, "report", &id, report_sections).await
}

/// `report` page sections: its title and tables, or `None` when the log has no such report.
pub(crate) fn report_sections(
    store: &dyn EventStore,
    views: &Views,
    _role: Role,
    id: &str,
) -> Result<Option<Detail>, StoreError> {
    let id = id.to_string();
    let Some(r) = views.reports.reports.get(&id) else {
        return Ok(None);
    };
    let mut facts = vec![
        cells(vec!["Title".into(), r.title.clone()]),
        cells(vec![
            "Drafted".into(),
            format!("{} by {}", r.drafted.on, r.drafted.by.join(", ")),
        ]),
        cells(vec![
            "Endorsed".into(),
            r.endorsed
                .as_ref()
                .map(|e| format!("{} by {}", e.on, e.by.join(", ")))
                .unwrap_or_else(|| "not yet".into()),
        ]),
        cells(vec![
            "Filed with".into(),
            r.filed_with.clone().unwrap_or_default(),
        ]),
    ];
    if let Some(g) = &r.group {
        facts.push(vec![Value::from("Group"), link(g, group_href(g))]);
    }
    if let Some(d) = &r.decision {
        facts.push(vec![Value::from("Responds to"), decision_link(d)]);
    }
    let submitted = r
        .submitted
        .iter()
        .map(|s| {
            vec![
                Value::from(s.on.to_string()),
                Value::from(s.document.clone()),
                link(&s.meeting, meeting_href(&s.meeting)),
            ]
        })
        .collect();
    let trail = trail_table(store, &format!("report/{id}"))?;
    Ok(Some((
        format!("{} ({id})", r.title),
        vec![
            table("", &["", ""], facts),
            table("Submitted", &["On", "Document", "Meeting"], submitted),
            trail,
        ],
    )))
}
