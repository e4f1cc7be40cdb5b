//! The ksqlDB server properties the engine honours (`ksql.functions.*`), given as
//! engine.toml's `[ksql]` table or `--ksql-config KEY=VALUE`. ksqlDB reads them from its
//! server configuration and does not take them per query, so neither does the engine.

/// The properties, with ksqlDB's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `ksql.functions.collect_list.limit`: entries beyond it are ignored silently. ksqlDB
    /// sets no limit unless configured (Confluent Cloud fixes it at 1000).
    pub collect_list_limit: usize,
    /// `ksql.functions.collect_set.limit`, likewise.
    pub collect_set_limit: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            collect_list_limit: usize::MAX,
            collect_set_limit: usize::MAX,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("{name} takes a whole number, not {value:?}")]
    NotANumber { name: String, value: String },
    #[error(
        "{name} is not a property advisor-engine honours; it takes {}",
        Settings::KNOWN.join(", ")
    )]
    Unknown { name: String },
}

impl Settings {
    pub const KNOWN: [&'static str; 2] = [
        "ksql.functions.collect_list.limit",
        "ksql.functions.collect_set.limit",
    ];

    /// Sets one property by its ksqlDB name. A negative limit means none, as in ksqlDB's
    /// CollectListUdaf.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SettingError> {
        let limit = || {
            value
                .trim()
                .parse::<i64>()
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                .map_err(|_| SettingError::NotANumber {
                    name: name.to_string(),
                    value: value.to_string(),
                })
        };
        match name {
            "ksql.functions.collect_list.limit" => self.collect_list_limit = limit()?,
            "ksql.functions.collect_set.limit" => self.collect_set_limit = limit()?,
            _ => {
                return Err(SettingError::Unknown {
                    name: name.to_string(),
                })
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_whole_numbers_and_negative_means_none() {
        let mut settings = Settings::default();
        assert_eq!(settings.collect_list_limit, usize::MAX);
        settings
            .set("ksql.functions.collect_list.limit", "1000")
            .unwrap();
        assert_eq!(settings.collect_list_limit, 1000);
        settings
            .set("ksql.functions.collect_set.limit", " 3 ")
            .unwrap();
        assert_eq!(settings.collect_set_limit, 3);
        settings
            .set("ksql.functions.collect_list.limit", "-1")
            .unwrap();
        assert_eq!(settings.collect_list_limit, usize::MAX);
        let error = settings
            .set("ksql.functions.collect_list.limit", "many")
            .unwrap_err();
        assert!(error.to_string().contains("whole number"), "{error}");
        let error = settings.set("ksql.streams.num.threads", "4").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("ksql.functions.collect_list.limit"),
            "{error}"
        );
    }
}
