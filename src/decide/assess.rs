//! How each approach fares against the settled answers, so the output can list every
//! alternative with why it fits or not.

use super::{
    Answers, Approach, Candidate, Verdict, DBT_5MIN_FLOOR, DBT_HOURLY_FLOOR, KAFKA_FLOOR,
    KSQLDB_FLOOR,
};
use crate::workload::{LogicKind, Workload};

/// What the logic is known to be, from the answers or the `--logic` kind.
struct Logic {
    stateless: Option<bool>,
    sql: Option<bool>,
    complex: Option<bool>,
    kind: Option<LogicKind>,
}

impl Logic {
    fn from(answers: &Answers, workload: &Workload) -> Self {
        let kind = workload.logic;
        Logic {
            stateless: answers
                .stateless
                .or(workload.stateless)
                .or(kind.map(LogicKind::is_stateless)),
            sql: answers
                .sql_based
                .or(workload.sql_based)
                .or(kind.map(LogicKind::is_sql_expressible)),
            complex: answers
                .complex
                .or(workload.complex)
                .or(kind.map(LogicKind::is_complex)),
            kind,
        }
    }

    /// Pattern detection is the one complex kind the advisor engine covers
    /// (MATCH_RECOGNIZE); ML and custom state stay with Flink.
    fn is_pattern(&self) -> bool {
        self.kind == Some(LogicKind::Pattern)
    }
}

/// Every approach with its verdict, the recommended one first, then those that also fit.
pub(super) fn candidates(
    recommended: Approach,
    recommended_why: &str,
    answers: &Answers,
    workload: &Workload,
) -> Vec<Candidate> {
    let logic = Logic::from(answers, workload);
    let mut candidates: Vec<Candidate> = Approach::ALL
        .into_iter()
        .filter(|a| *a != Approach::Reconsider || recommended == Approach::Reconsider)
        .map(|approach| {
            let (verdict, why) = if approach == recommended {
                (Verdict::Recommended, recommended_why.to_string())
            } else {
                assess(approach, answers, &logic)
            };
            Candidate {
                approach,
                name: approach.title(),
                verdict,
                why,
                typical_latency: approach.typical_latency(),
                monthly_cost: None,
            }
        })
        .collect();
    candidates.sort_by_key(|c| c.verdict);
    candidates
}

fn assess(approach: Approach, answers: &Answers, logic: &Logic) -> (Verdict, String) {
    let Some(latency) = answers.latency else {
        return (Verdict::DoesNotFit, "no latency budget".to_string());
    };
    let budget = latency.as_duration();
    let lands = approach.typical_latency();
    let too_slow = || {
        (
            Verdict::DoesNotFit,
            format!("lands results in {lands}; the budget is {latency}"),
        )
    };
    if budget < KAFKA_FLOOR && approach != Approach::CustomInProcess {
        return (
            Verdict::DoesNotFit,
            format!("a {latency} budget is below what any path through Kafka delivers"),
        );
    }
    let not_needed_for_slow_budget = || {
        (
            Verdict::NotNeeded,
            format!(
                "delivers {lands}, but a {latency} budget is met by dbt, which the decision guide says to start with"
            ),
        )
    };
    match approach {
        Approach::DbtHourly if budget >= DBT_HOURLY_FLOOR => (
            Verdict::AlsoFits,
            format!("lands results in {lands}, inside the {latency} budget"),
        ),
        Approach::DbtHourly => too_slow(),
        Approach::Dbt5Min if budget >= DBT_5MIN_FLOOR => (
            Verdict::AlsoFits,
            format!("lands results in {lands}, inside the {latency} budget with Snowflake auto-refresh"),
        ),
        Approach::Dbt5Min => too_slow(),
        Approach::CustomInProcess => (
            Verdict::NotNeeded,
            format!("only needed under 100 ms; a {latency} budget is within Kafka's reach"),
        ),
        Approach::Reconsider => (Verdict::NotNeeded, "the tree found an approach".to_string()),
        _ if budget >= DBT_5MIN_FLOOR => not_needed_for_slow_budget(),
        Approach::Producer => match logic.stateless {
            Some(true) => (Verdict::AlsoFits, "per-event logic fits in the producer app".to_string()),
            Some(false) => (
                Verdict::DoesNotFit,
                "the logic keeps state across events; a producer transform is per-event".to_string(),
            ),
            None => (Verdict::DoesNotFit, "fits only per-event logic".to_string()),
        },
        Approach::Ksqldb => {
            if budget < KSQLDB_FLOOR {
                return (
                    Verdict::DoesNotFit,
                    format!("answers in {lands} (decision guide); the budget is {latency}"),
                );
            }
            match (logic.stateless, logic.sql) {
                (Some(true), _) => (
                    Verdict::NotNeeded,
                    "can filter and enrich, but a producer transform needs no new server".to_string(),
                ),
                (_, Some(true)) => (Verdict::AlsoFits, "the logic is SQL: aggregations, joins, windows".to_string()),
                _ => (
                    Verdict::DoesNotFit,
                    "the logic is not expressible in ksqlDB's SQL".to_string(),
                ),
            }
        }
        Approach::Engine => match (logic.stateless, logic.sql) {
            (Some(true), _) => (
                Verdict::NotNeeded,
                "can filter and enrich, but a producer transform needs no new server".to_string(),
            ),
            (_, Some(true)) => (
                Verdict::AlsoFits,
                "runs the same ksqlDB-dialect SQL with sub-second latency in one small Rust process".to_string(),
            ),
            _ if logic.is_pattern() => (
                Verdict::AlsoFits,
                "pattern detection through MATCH_RECOGNIZE".to_string(),
            ),
            _ if logic.complex == Some(true) => (
                Verdict::DoesNotFit,
                "ML inference and custom state management need Flink's APIs".to_string(),
            ),
            _ => (
                Verdict::DoesNotFit,
                "the logic is neither SQL nor a pattern the engine runs".to_string(),
            ),
        },
        Approach::Flink => match (logic.stateless, logic.sql, logic.complex) {
            (Some(true), _, _) => (
                Verdict::NotNeeded,
                "per-event logic does not need a Flink cluster".to_string(),
            ),
            (_, Some(true), _) => (
                Verdict::AlsoFits,
                "runs the SQL too (Flink SQL), at higher cost and 40-80 h of development".to_string(),
            ),
            (_, _, Some(true)) => (Verdict::AlsoFits, "CEP, ML and custom state".to_string()),
            (_, _, Some(false)) => (
                Verdict::NotNeeded,
                "the logic is neither SQL nor complex: reconsider stream processing first".to_string(),
            ),
            _ => (Verdict::DoesNotFit, "the logic was not described".to_string()),
        },
    }
}
