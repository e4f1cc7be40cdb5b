//! The ksqlDB server properties the engine honours (`ksql.functions.*`,
//! `ksql.logging.processing.*`, `ksql.schema.registry.*`), given as engine.toml's `[ksql]` table, `ENGINE_KSQL_*`
//! variables or `--ksql-config KEY=VALUE`. ksqlDB reads them from its server configuration
//! and does not take them per query, so neither does the engine.

/// The properties, with ksqlDB's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `ksql.functions.collect_list.limit`: entries beyond it are ignored silently. ksqlDB
    /// sets no limit unless configured (Confluent Cloud fixes it at 1000).
    pub collect_list_limit: usize,
    /// `ksql.functions.collect_set.limit`, likewise.
    pub collect_set_limit: usize,
    /// `ksql.logging.processing.*`: where dead letters go and the stream over them.
    pub processing_log: ProcessingLog,
    /// `ksql.schema.registry.*`: the Schema Registry of AVRO sources and outputs.
    pub schema_registry: RegistryProperties,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            collect_list_limit: usize::MAX,
            collect_set_limit: usize::MAX,
            processing_log: ProcessingLog::default(),
            schema_registry: RegistryProperties::default(),
        }
    }
}

/// The `ksql.schema.registry.*` properties ksqlDB passes to its Schema Registry client, as
/// far as the engine's client takes them. The tutorial's stack sets
/// KSQL_KSQL_SCHEMA_REGISTRY_URL; ENGINE_KSQL_SCHEMA_REGISTRY_URL is the same property.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryProperties {
    /// `ksql.schema.registry.url`.
    pub url: Option<String>,
    /// `ksql.schema.registry.basic.auth.user.info`, `user:password`; used with
    /// `basic.auth.credentials.source` USER_INFO, the only source the engine takes.
    pub user_info: Option<String>,
    /// `ksql.schema.registry.ssl.truststore.location`: a PEM file of CA certificates
    /// (`ssl.truststore.type` PEM; JKS and PKCS12 stores are not read).
    pub truststore: Option<std::path::PathBuf>,
}

/// ksqlDB's processing-log settings (its ProcessingLogConfig), which the engine applies to
/// its dead letters: they are its processing log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessingLog {
    /// `ksql.logging.processing.topic.auto.create` (false): create the topic at start, with
    /// the partitions and replication factor below.
    pub topic_auto_create: bool,
    /// `ksql.logging.processing.topic.name`; unset, `<service id>ksql_processing_log`.
    pub topic_name: Option<String>,
    /// `ksql.logging.processing.topic.partitions` (1).
    pub topic_partitions: i32,
    /// `ksql.logging.processing.topic.replication.factor` (1).
    pub topic_replication_factor: i16,
    /// `ksql.logging.processing.stream.auto.create` (false): `serve` declares a stream over
    /// the topic at start when it has none of that name.
    pub stream_auto_create: bool,
    /// `ksql.logging.processing.stream.name` (KSQL_PROCESSING_LOG).
    pub stream_name: String,
    /// `ksql.logging.processing.rows.include`: whether a letter carries the record. ksqlDB's
    /// default is false; the engine's is true, because its dead letters are there to be
    /// replayed, which needs the record's bytes.
    pub rows_include: bool,
}

impl Default for ProcessingLog {
    fn default() -> Self {
        ProcessingLog {
            topic_auto_create: false,
            topic_name: None,
            topic_partitions: 1,
            topic_replication_factor: 1,
            stream_auto_create: false,
            stream_name: "KSQL_PROCESSING_LOG".into(),
            rows_include: true,
        }
    }
}

/// Where dead letters went before the processing-log settings, and still go when none of
/// them is set and no topic is named.
pub const LEGACY_DEAD_LETTER_TOPIC: &str = "advisor_engine_dead_letters";

impl ProcessingLog {
    /// The topic dead letters go to. `--dead-letter-topic` and
    /// `ksql.logging.processing.topic.name` are one setting under two names, so two
    /// different names are refused. Unnamed, it is ksqlDB's `<service id>ksql_processing_log`
    /// once either auto-create setting is on (ksqlDB's service ids end with `_` by
    /// convention, `default_`; the engine's are consumer groups and seldom do, so it puts
    /// one between), else the engine's older default.
    pub fn topic(
        &self,
        dead_letter_topic: Option<&str>,
        service_id: &str,
    ) -> Result<String, SettingError> {
        match (dead_letter_topic, self.topic_name.as_deref()) {
            (Some(flag), Some(property)) if flag != property => Err(SettingError::TwoTopics {
                flag: flag.to_string(),
                property: property.to_string(),
            }),
            (Some(name), _) | (None, Some(name)) => Ok(name.to_string()),
            (None, None) if self.topic_auto_create || self.stream_auto_create => {
                let separator = if service_id.is_empty() || service_id.ends_with('_') {
                    ""
                } else {
                    "_"
                };
                Ok(format!("{service_id}{separator}ksql_processing_log"))
            }
            (None, None) => Ok(LEGACY_DEAD_LETTER_TOPIC.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("{name} takes a whole number, not {value:?}")]
    NotANumber { name: String, value: String },
    #[error("{name} takes a whole number from {min} to {max}, not {value:?}")]
    OutOfRange {
        name: String,
        value: String,
        min: i64,
        max: i64,
    },
    #[error("{name} takes true or false, not {value:?}")]
    NotABoolean { name: String, value: String },
    #[error("{name} takes a name, not an empty value")]
    Empty { name: String },
    #[error("{name} {value:?} is not supported; the engine takes {takes}")]
    NotSupported {
        name: String,
        value: String,
        takes: &'static str,
    },
    #[error("the dead-letter topic is named twice, {flag:?} (--dead-letter-topic) and {property:?} (ksql.logging.processing.topic.name); they are one setting, give one")]
    TwoTopics { flag: String, property: String },
    #[error(
        "{name} is not a property advisor-engine honours; it takes {}",
        Settings::KNOWN.join(", ")
    )]
    Unknown { name: String },
}

impl Settings {
    pub const KNOWN: [&'static str; 14] = [
        "ksql.functions.collect_list.limit",
        "ksql.functions.collect_set.limit",
        "ksql.logging.processing.topic.auto.create",
        "ksql.logging.processing.topic.name",
        "ksql.logging.processing.topic.partitions",
        "ksql.logging.processing.topic.replication.factor",
        "ksql.logging.processing.stream.auto.create",
        "ksql.logging.processing.stream.name",
        "ksql.logging.processing.rows.include",
        "ksql.schema.registry.url",
        "ksql.schema.registry.basic.auth.credentials.source",
        "ksql.schema.registry.basic.auth.user.info",
        "ksql.schema.registry.ssl.truststore.location",
        "ksql.schema.registry.ssl.truststore.type",
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
        // Kafka's ConfigDef: BOOLEAN is true or false in any case, INT and SHORT in range.
        let boolean = || match value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(SettingError::NotABoolean {
                name: name.to_string(),
                value: value.to_string(),
            }),
        };
        let whole = |min: i64, max: i64| {
            let n = value
                .trim()
                .parse::<i64>()
                .map_err(|_| SettingError::NotANumber {
                    name: name.to_string(),
                    value: value.to_string(),
                })?;
            if (min..=max).contains(&n) {
                Ok(n)
            } else {
                Err(SettingError::OutOfRange {
                    name: name.to_string(),
                    value: value.to_string(),
                    min,
                    max,
                })
            }
        };
        let text = || match value.trim() {
            "" => Err(SettingError::Empty {
                name: name.to_string(),
            }),
            text => Ok(text.to_string()),
        };
        let log = &mut self.processing_log;
        match name {
            "ksql.functions.collect_list.limit" => self.collect_list_limit = limit()?,
            "ksql.functions.collect_set.limit" => self.collect_set_limit = limit()?,
            "ksql.logging.processing.topic.auto.create" => log.topic_auto_create = boolean()?,
            // ksqlDB's unset value is the empty name, which means the default.
            "ksql.logging.processing.topic.name" => {
                log.topic_name = Some(value.trim().to_string()).filter(|n| !n.is_empty())
            }
            // A topic has at least one partition; a replication factor is a short.
            "ksql.logging.processing.topic.partitions" => {
                log.topic_partitions = whole(1, i64::from(i32::MAX))? as i32
            }
            "ksql.logging.processing.topic.replication.factor" => {
                log.topic_replication_factor = whole(1, i64::from(i16::MAX))? as i16
            }
            "ksql.logging.processing.stream.auto.create" => log.stream_auto_create = boolean()?,
            "ksql.logging.processing.stream.name" => log.stream_name = text()?,
            "ksql.logging.processing.rows.include" => log.rows_include = boolean()?,
            "ksql.schema.registry.url" => self.schema_registry.url = Some(text()?),
            "ksql.schema.registry.basic.auth.user.info" => {
                self.schema_registry.user_info = Some(text()?)
            }
            "ksql.schema.registry.ssl.truststore.location" => {
                self.schema_registry.truststore = Some(text()?.into())
            }
            // Confluent's client also takes URL (the credentials in the URL) and
            // SASL_INHERIT; the engine's sends user.info only.
            "ksql.schema.registry.basic.auth.credentials.source" => {
                if !value.trim().eq_ignore_ascii_case("USER_INFO") {
                    return Err(SettingError::NotSupported {
                        name: name.to_string(),
                        value: value.to_string(),
                        takes: "USER_INFO, with the credentials in ksql.schema.registry.basic.auth.user.info",
                    });
                }
            }
            "ksql.schema.registry.ssl.truststore.type" => {
                if !value.trim().eq_ignore_ascii_case("PEM") {
                    return Err(SettingError::NotSupported {
                        name: name.to_string(),
                        value: value.to_string(),
                        takes: "PEM; a JKS or PKCS12 store converts with keytool -exportcert -rfc",
                    });
                }
            }
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
                .contains("ksql.logging.processing.topic.auto.create"),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("ksql.functions.collect_list.limit"),
            "{error}"
        );
    }

    #[test]
    fn processing_log_properties_take_kafkas_value_types() {
        let mut settings = Settings::default();
        let log = |s: &Settings| s.processing_log.clone();
        assert_eq!(log(&settings), ProcessingLog::default());
        settings
            .set("ksql.logging.processing.topic.auto.create", "TRUE")
            .unwrap();
        settings
            .set("ksql.logging.processing.stream.auto.create", "true")
            .unwrap();
        settings
            .set("ksql.logging.processing.topic.partitions", "3")
            .unwrap();
        settings
            .set("ksql.logging.processing.topic.replication.factor", "2")
            .unwrap();
        settings
            .set("ksql.logging.processing.stream.name", "PLOG")
            .unwrap();
        settings
            .set("ksql.logging.processing.rows.include", "false")
            .unwrap();
        let got = log(&settings);
        assert!(got.topic_auto_create && got.stream_auto_create && !got.rows_include);
        assert_eq!((got.topic_partitions, got.topic_replication_factor), (3, 2));
        assert_eq!(got.stream_name, "PLOG");
        for (name, value, expected) in [
            (
                "ksql.logging.processing.topic.auto.create",
                "yes",
                "true or false",
            ),
            ("ksql.logging.processing.topic.partitions", "0", "from 1 to"),
            (
                "ksql.logging.processing.topic.replication.factor",
                "40000",
                "to 32767",
            ),
            ("ksql.logging.processing.stream.name", " ", "empty"),
        ] {
            let error = settings.set(name, value).unwrap_err().to_string();
            assert!(error.contains(expected), "{name}={value}: {error}");
        }
        // ksqlDB's unset topic name is the empty string.
        settings
            .set("ksql.logging.processing.topic.name", "plog")
            .unwrap();
        settings
            .set("ksql.logging.processing.topic.name", "")
            .unwrap();
        assert_eq!(settings.processing_log.topic_name, None);
    }

    #[test]
    fn schema_registry_properties_take_a_url_user_info_and_a_pem_truststore() {
        let mut settings = Settings::default();
        assert_eq!(settings.schema_registry, RegistryProperties::default());
        for (name, value) in [
            ("ksql.schema.registry.url", " https://registry:8081 "),
            (
                "ksql.schema.registry.basic.auth.credentials.source",
                "user_info",
            ),
            ("ksql.schema.registry.basic.auth.user.info", "ksql:secret"),
            (
                "ksql.schema.registry.ssl.truststore.location",
                "/etc/ca.pem",
            ),
            ("ksql.schema.registry.ssl.truststore.type", "PEM"),
        ] {
            settings.set(name, value).unwrap();
        }
        assert_eq!(
            settings.schema_registry,
            RegistryProperties {
                url: Some("https://registry:8081".into()),
                user_info: Some("ksql:secret".into()),
                truststore: Some("/etc/ca.pem".into()),
            }
        );
        for (name, value, expected) in [
            (
                "ksql.schema.registry.basic.auth.credentials.source",
                "URL",
                "takes USER_INFO",
            ),
            ("ksql.schema.registry.ssl.truststore.type", "JKS", "keytool"),
            ("ksql.schema.registry.url", "", "empty"),
        ] {
            let error = settings.set(name, value).unwrap_err().to_string();
            assert!(error.contains(expected), "{name}={value}: {error}");
        }
    }

    #[test]
    fn the_dead_letter_topic_follows_the_processing_log_settings() {
        let mut log = ProcessingLog::default();
        assert_eq!(log.topic(None, "svc").unwrap(), LEGACY_DEAD_LETTER_TOPIC);
        assert_eq!(log.topic(Some("dlq"), "svc").unwrap(), "dlq");
        log.topic_auto_create = true;
        assert_eq!(
            log.topic(None, "fraud").unwrap(),
            "fraud_ksql_processing_log"
        );
        assert_eq!(
            log.topic(None, "default_").unwrap(),
            "default_ksql_processing_log"
        );
        assert_eq!(log.topic(Some("dlq"), "fraud").unwrap(), "dlq");
        log.topic_auto_create = false;
        log.stream_auto_create = true;
        assert_eq!(
            log.topic(None, "fraud").unwrap(),
            "fraud_ksql_processing_log"
        );
        log.topic_name = Some("plog".into());
        assert_eq!(log.topic(None, "fraud").unwrap(), "plog");
        assert_eq!(log.topic(Some("plog"), "fraud").unwrap(), "plog");
        let error = log.topic(Some("dlq"), "fraud").unwrap_err().to_string();
        assert!(
            error.contains("\"dlq\"") && error.contains("\"plog\""),
            "{error}"
        );
    }
}
