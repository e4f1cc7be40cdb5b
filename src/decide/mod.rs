//! The decision tree of the decision guide advisor is built on, walked for one workload.
//!
//! `decide` asks only the questions its path needs, takes each answer from the workload
//! (flags and file) or derives it (from the latency or the kind of logic), and falls back
//! to an [`Asker`] for whatever is still missing. The result explains itself: every step
//! says what was asked, what the answer was, where it came from and where it led.

mod approach;
mod assess;
pub mod latency_table;
pub mod prompt;

use std::time::Duration;

use serde::Serialize;

pub use approach::Approach;
pub use latency_table::LatencyRow;

use crate::money::CostRange;
use crate::workload::{Latency, Workload};

/// A question of the tree, with the decision guide's own wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Question {
    /// From the decision guide's latency table rather than the tree: under 100 ms, Kafka is out.
    BelowKafka,
    WithinSeconds,
    WaitForDbt,
    Stateless,
    SqlBased,
    Complex,
}

impl Question {
    pub fn text(self) -> &'static str {
        match self {
            Question::BelowKafka => "Do you need results in under 100 ms?",
            Question::WithinSeconds => "Do you need results within seconds (not minutes)?",
            Question::WaitForDbt => "Can you wait for dbt to run every 5 minutes?",
            Question::Stateless => "Is the logic stateless (per-event filtering/enrichment)?",
            Question::SqlBased => "Is the logic SQL-based (aggregations, joins, windowing)?",
            Question::Complex => "Is the logic complex (CEP, ML, custom state management)?",
        }
    }

    /// The flag that answers the question without a prompt.
    pub fn flag(self) -> &'static str {
        match self {
            Question::BelowKafka | Question::WithinSeconds | Question::WaitForDbt => {
                "--latency (e.g. --latency 2s)"
            }
            Question::Stateless => "--stateless, --stateful or --logic",
            Question::SqlBased => "--sql-based yes|no or --logic",
            Question::Complex => "--complex yes|no or --logic",
        }
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Given directly (flag or workload file).
    Input,
    /// Worked out from the latency budget.
    Latency,
    /// Worked out from the kind of logic.
    Logic,
    /// Answered at the interactive prompt.
    Prompt,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub question_id: Question,
    pub question: &'static str,
    pub answer: String,
    pub origin: Origin,
    /// Why the answer is what it is and where it leads.
    pub reason: String,
    pub leads_to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Recommended,
    AlsoFits,
    /// Meets the budget, but the workload does not need it.
    NotNeeded,
    DoesNotFit,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Recommended => "recommended",
            Verdict::AlsoFits => "also fits",
            Verdict::NotNeeded => "not needed",
            Verdict::DoesNotFit => "does not fit",
        }
    }
}

/// One approach considered for the workload. `monthly_cost` is filled in by the cost model.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub approach: Approach,
    pub name: &'static str,
    pub verdict: Verdict,
    pub why: String,
    pub typical_latency: &'static str,
    pub monthly_cost: Option<CostRange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// Bad reason: "We want real-time" without a business value in $.
    NoBusinessValue,
    /// The stream-processing premium over dbt is more than the value it brings.
    PremiumExceedsValue,
    /// The chosen dbt cadence lands results later than the budget.
    DbtSlowerThanBudget,
}

#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
}

/// The answers the walk settled on; what the cost model and the report read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Answers {
    pub latency: Option<Latency>,
    pub stateless: Option<bool>,
    pub sql_based: Option<bool>,
    pub complex: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub workload: Option<String>,
    pub approach: Approach,
    pub approach_name: &'static str,
    pub path: Vec<Step>,
    pub latency_row: Option<LatencyRow>,
    pub answers: Answers,
    pub candidates: Vec<Candidate>,
    /// Monthly cost of the recommendation beyond dbt every 5 minutes, once priced.
    pub premium_over_dbt: Option<CostRange>,
    pub warnings: Vec<Warning>,
    pub inputs: Workload,
}

impl Recommendation {
    /// Approaches other than the recommended one that also fit.
    pub fn also_fits(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates
            .iter()
            .filter(|c| c.verdict == Verdict::AlsoFits)
    }

    pub fn candidate_mut(&mut self, approach: Approach) -> Option<&mut Candidate> {
        self.candidates.iter_mut().find(|c| c.approach == approach)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("missing answer to \"{question}\"{workload}: give it with {flag}, or run in a terminal without --no-input to be asked")]
    Missing {
        question: &'static str,
        flag: &'static str,
        workload: String,
    },
    #[error("could not read the answer to \"{question}\": {reason}")]
    Prompt {
        question: &'static str,
        reason: String,
    },
}

/// Supplies answers the workload lacks. `Ok(None)` means it cannot ask.
pub trait Asker {
    fn latency(&mut self, question: Question) -> Result<Option<Latency>, DecideError>;
    fn yes_no(&mut self, question: Question) -> Result<Option<bool>, DecideError>;
}

/// An asker for scripts and pipes: every missing answer is an error.
pub struct NoInput;

impl Asker for NoInput {
    fn latency(&mut self, _: Question) -> Result<Option<Latency>, DecideError> {
        Ok(None)
    }

    fn yes_no(&mut self, _: Question) -> Result<Option<bool>, DecideError> {
        Ok(None)
    }
}

/// Below this no path through Kafka delivers (the decision guide's high-frequency trading row).
const KAFKA_FLOOR: Duration = Duration::from_millis(100);
/// "Within seconds (not minutes)".
const SECONDS_CEILING: Duration = Duration::from_secs(60);
/// From here up the decision guide serves budgets with dbt (its 30-60 s real-time dashboards row),
/// and stream processors are not needed.
const DBT_5MIN_FLOOR: Duration = Duration::from_secs(30);
/// dbt every 5 minutes lands results in 5-10 minutes (the decision guide's comparison table).
const DBT_5MIN_LANDS_WITHIN: Duration = Duration::from_secs(10 * 60);
const DBT_HOURLY_FLOOR: Duration = Duration::from_secs(3600);
/// ksqlDB answers in under 10 s but not under 1 s (the decision guide's comparison table).
const KSQLDB_FLOOR: Duration = Duration::from_secs(1);

fn yes_no(answer: bool) -> String {
    if answer { "yes" } else { "no" }.to_string()
}

struct Walk<'a> {
    workload: &'a Workload,
    asker: &'a mut dyn Asker,
    path: Vec<Step>,
    answers: Answers,
}

impl Walk<'_> {
    fn missing(&self, question: Question) -> DecideError {
        DecideError::Missing {
            question: question.text(),
            flag: question.flag(),
            workload: self
                .workload
                .name
                .as_deref()
                .map(|n| format!(" for workload {n:?}"))
                .unwrap_or_default(),
        }
    }

    fn latency(&mut self) -> Result<(Latency, Origin), DecideError> {
        if let Some(latency) = self.workload.latency {
            return Ok((latency, Origin::Input));
        }
        match self.asker.latency(Question::WithinSeconds)? {
            Some(latency) => Ok((latency, Origin::Prompt)),
            None => Err(self.missing(Question::WithinSeconds)),
        }
    }

    /// An answer about the logic: given directly, implied by `--logic`, or asked.
    fn logic_answer(
        &mut self,
        question: Question,
        given: Option<bool>,
        implied: impl Fn(crate::workload::LogicKind) -> bool,
    ) -> Result<(bool, Origin), DecideError> {
        if let Some(answer) = given {
            return Ok((answer, Origin::Input));
        }
        if let Some(logic) = self.workload.logic {
            return Ok((implied(logic), Origin::Logic));
        }
        match self.asker.yes_no(question)? {
            Some(answer) => Ok((answer, Origin::Prompt)),
            None => Err(self.missing(question)),
        }
    }

    fn step(
        &mut self,
        question: Question,
        answer: String,
        origin: Origin,
        reason: String,
        leads_to: Option<Approach>,
    ) {
        self.path.push(Step {
            question_id: question,
            question: question.text(),
            answer,
            origin,
            reason,
            leads_to: leads_to
                .map(|a| a.title().to_string())
                .unwrap_or_else(|| "continue".to_string()),
        });
    }

    fn logic_reason(&self, origin: Origin, what: &str) -> String {
        match (origin, self.workload.logic) {
            (Origin::Logic, Some(logic)) => format!("--logic {} {what}", logic.name()),
            (Origin::Prompt, _) => "answered at the prompt".to_string(),
            _ => "given".to_string(),
        }
    }

    fn run(&mut self) -> Result<Approach, DecideError> {
        let (latency, latency_origin) = self.latency()?;
        self.answers.latency = Some(latency);
        let budget = latency.as_duration();

        let below_kafka = budget < KAFKA_FLOOR;
        self.step(
            Question::BelowKafka,
            yes_no(below_kafka),
            Origin::Latency,
            format!(
                "budget {latency}; the decision guide's latency table puts high-frequency trading (< 100ms) outside Kafka"
            ),
            below_kafka.then_some(Approach::CustomInProcess),
        );
        if below_kafka {
            return Ok(Approach::CustomInProcess);
        }

        let within_seconds = budget < SECONDS_CEILING;
        let latency_note = if latency_origin == Origin::Prompt {
            " (answered at the prompt)"
        } else {
            ""
        };
        if !within_seconds {
            let hourly = budget >= DBT_HOURLY_FLOOR;
            let approach = if hourly {
                Approach::DbtHourly
            } else {
                Approach::Dbt5Min
            };
            let reason = if hourly {
                format!("budget {latency}{latency_note} is an hour or more: dbt hourly lands results in 30-60 min")
            } else {
                format!("budget {latency}{latency_note} is minutes, not seconds: dbt every 5 minutes is the decision guide's answer for minute budgets")
            };
            self.step(
                Question::WithinSeconds,
                yes_no(false),
                Origin::Latency,
                reason,
                Some(approach),
            );
            return Ok(approach);
        }
        self.step(
            Question::WithinSeconds,
            yes_no(true),
            Origin::Latency,
            format!("budget {latency}{latency_note} is under a minute"),
            None,
        );

        let can_wait = budget >= DBT_5MIN_FLOOR;
        self.step(
            Question::WaitForDbt,
            yes_no(can_wait),
            Origin::Latency,
            if can_wait {
                format!("budget {latency} is 30 s or more: the decision guide serves 30-60 s dashboards with dbt + Snowflake auto-refresh")
            } else {
                format!("budget {latency} is under 30 s, below what the decision guide serves with dbt")
            },
            can_wait.then_some(Approach::Dbt5Min),
        );
        if can_wait {
            return Ok(Approach::Dbt5Min);
        }

        let (stateless, origin) =
            self.logic_answer(Question::Stateless, self.workload.stateless, |l| {
                l.is_stateless()
            })?;
        self.answers.stateless = Some(stateless);
        let reason = format!(
            "{}; {}",
            self.logic_reason(
                origin,
                if stateless {
                    "is per-event"
                } else {
                    "keeps state across events"
                }
            ),
            if stateless {
                "the decision guide: Kafka Streams in the producer app is simplest"
            } else {
                "state needs a stream processor"
            }
        );
        self.step(
            Question::Stateless,
            yes_no(stateless),
            origin,
            reason,
            stateless.then_some(Approach::Producer),
        );
        if stateless {
            return Ok(Approach::Producer);
        }

        let (sql_based, origin) =
            self.logic_answer(Question::SqlBased, self.workload.sql_based, |l| {
                l.is_sql_expressible()
            })?;
        self.answers.sql_based = Some(sql_based);
        if sql_based {
            let fast = budget < KSQLDB_FLOOR;
            let approach = if fast {
                Approach::Engine
            } else {
                Approach::Ksqldb
            };
            let reason = format!(
                "{}; {}",
                self.logic_reason(origin, "is expressible in SQL"),
                if fast {
                    format!("ksqlDB answers in < 10 s (decision guide), too slow for {latency}; the advisor engine runs the same SQL in under a second, without Flink's 40-80 h of development")
                } else {
                    "the decision guide: use ksqlDB".to_string()
                }
            );
            self.step(
                Question::SqlBased,
                yes_no(true),
                origin,
                reason,
                Some(approach),
            );
            return Ok(approach);
        }
        let reason = format!(
            "{}; not a fit for SQL",
            self.logic_reason(origin, "is not expressible in ksqlDB's SQL")
        );
        self.step(Question::SqlBased, yes_no(false), origin, reason, None);

        let (complex, origin) =
            self.logic_answer(Question::Complex, self.workload.complex, |l| l.is_complex())?;
        self.answers.complex = Some(complex);
        let approach = if complex {
            Approach::Flink
        } else {
            Approach::Reconsider
        };
        let reason = format!(
            "{}; {}",
            self.logic_reason(
                origin,
                if complex {
                    "needs CEP, ML or custom state"
                } else {
                    "is neither SQL nor complex"
                }
            ),
            if complex {
                "the decision guide: use Apache Flink"
            } else {
                "the decision guide: reconsider whether you need stream processing"
            }
        );
        self.step(
            Question::Complex,
            yes_no(complex),
            origin,
            reason,
            Some(approach),
        );
        Ok(approach)
    }
}

/// Walks the tree for one workload.
pub fn decide(workload: &Workload, asker: &mut dyn Asker) -> Result<Recommendation, DecideError> {
    let mut walk = Walk {
        workload,
        asker,
        path: Vec::new(),
        answers: Answers::default(),
    };
    let approach = walk.run()?;
    let Walk { path, answers, .. } = walk;
    let latency_row = answers.latency.map(|l| *latency_table::row_for(l));
    let why = path.last().map(|s| s.reason.as_str()).unwrap_or_default();
    let candidates = assess::candidates(approach, why, &answers, workload);
    let warnings = warnings(approach, &answers, workload);
    Ok(Recommendation {
        workload: workload.name.clone(),
        approach,
        approach_name: approach.title(),
        path,
        latency_row,
        answers,
        candidates,
        premium_over_dbt: None,
        warnings,
        inputs: workload.clone(),
    })
}

fn warnings(approach: Approach, answers: &Answers, workload: &Workload) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let Some(latency) = answers.latency else {
        return warnings;
    };
    let budget = latency.as_duration();
    if budget < SECONDS_CEILING && workload.business_value_usd.is_none() {
        warnings.push(Warning {
            kind: WarningKind::NoBusinessValue,
            message: format!(
                "\"We want real-time\" is one of the decision guide's bad reasons: a {latency} budget was asked with no business value in $ (give --business-value-usd, the monthly value of the lower latency)"
            ),
        });
    }
    if approach == Approach::Dbt5Min && budget < DBT_5MIN_LANDS_WITHIN {
        warnings.push(Warning {
            kind: WarningKind::DbtSlowerThanBudget,
            message: format!(
                "dbt every 5 minutes lands results in 5-10 min, later than the {latency} budget: run dbt more often or let Snowflake auto-refresh"
            ),
        });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::LogicKind;

    fn with(latency: &str, logic: Option<LogicKind>) -> Workload {
        Workload {
            latency: Some(latency.parse().unwrap()),
            logic,
            ..Workload::default()
        }
    }

    fn approach(workload: &Workload) -> Approach {
        decide(workload, &mut NoInput).unwrap().approach
    }

    #[test]
    fn each_leaf_has_a_workload_that_reaches_it() {
        assert_eq!(approach(&with("2h", None)), Approach::DbtHourly);
        assert_eq!(approach(&with("15m", None)), Approach::Dbt5Min);
        assert_eq!(approach(&with("45s", None)), Approach::Dbt5Min);
        assert_eq!(approach(&with("50ms", None)), Approach::CustomInProcess);
        assert_eq!(
            approach(&with("5s", Some(LogicKind::Filter))),
            Approach::Producer
        );
        assert_eq!(
            approach(&with("5s", Some(LogicKind::Aggregate))),
            Approach::Ksqldb
        );
        assert_eq!(
            approach(&with("500ms", Some(LogicKind::Aggregate))),
            Approach::Engine
        );
        assert_eq!(
            approach(&with("500ms", Some(LogicKind::Pattern))),
            Approach::Flink
        );
        let unsure = Workload {
            stateless: Some(false),
            sql_based: Some(false),
            complex: Some(false),
            ..with("5s", None)
        };
        assert_eq!(approach(&unsure), Approach::Reconsider);
    }

    #[test]
    fn missing_logic_names_the_flag() {
        let err = decide(&with("5s", None), &mut NoInput)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--stateless"), "{err}");
    }

    #[test]
    fn minute_budget_never_asks_about_logic() {
        let rec = decide(&with("15m", None), &mut NoInput).unwrap();
        assert!(rec
            .path
            .iter()
            .all(|s| s.question_id != Question::Stateless));
    }
}
