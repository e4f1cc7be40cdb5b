use serde::{Deserialize, Serialize};

/// Every answer the decision tree can give. The ids are shared with `advisor cost --flavor`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Approach {
    #[value(name = "dbt-hourly")]
    #[serde(rename = "dbt-hourly")]
    DbtHourly,
    #[value(name = "dbt-5min")]
    #[serde(rename = "dbt-5min")]
    Dbt5Min,
    Producer,
    Ksqldb,
    Flink,
    Engine,
    #[value(name = "custom-in-process")]
    CustomInProcess,
    Reconsider,
}

impl Approach {
    pub const ALL: [Approach; 8] = [
        Approach::DbtHourly,
        Approach::Dbt5Min,
        Approach::Producer,
        Approach::Ksqldb,
        Approach::Flink,
        Approach::Engine,
        Approach::CustomInProcess,
        Approach::Reconsider,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Approach::DbtHourly => "dbt-hourly",
            Approach::Dbt5Min => "dbt-5min",
            Approach::Producer => "producer",
            Approach::Ksqldb => "ksqldb",
            Approach::Flink => "flink",
            Approach::Engine => "engine",
            Approach::CustomInProcess => "custom-in-process",
            Approach::Reconsider => "reconsider",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Approach::DbtHourly => "dbt hourly",
            Approach::Dbt5Min => "dbt every 5 minutes",
            Approach::Producer => "transform in the producer",
            Approach::Ksqldb => "ksqlDB",
            Approach::Flink => "Apache Flink",
            Approach::Engine => "advisor engine",
            Approach::CustomInProcess => "custom in-process (not Kafka)",
            Approach::Reconsider => "reconsider stream processing",
        }
    }

    /// What the decision guide says each approach delivers, used to explain fits.
    pub fn typical_latency(self) -> &'static str {
        match self {
            Approach::DbtHourly => "30-60 min",
            Approach::Dbt5Min => "5-10 min",
            Approach::Producer => "< 1 s (in the producer's own path)",
            Approach::Ksqldb => "< 10 s",
            Approach::Flink => "< 1 s",
            Approach::Engine => "< 1 s",
            Approach::CustomInProcess => "< 100 ms",
            Approach::Reconsider => "-",
        }
    }

    /// Approaches that add a stream-processing layer beside Kafka (and so a premium over dbt).
    pub fn is_stream_processing(self) -> bool {
        matches!(
            self,
            Approach::Ksqldb | Approach::Flink | Approach::Engine | Approach::Producer
        )
    }
}

impl std::fmt::Display for Approach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.title())
    }
}
