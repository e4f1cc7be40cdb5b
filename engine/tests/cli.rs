use assert_cmd::Command;

#[test]
fn prints_its_version_and_help() {
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .arg("--version")
        .assert()
        .success()
        .stdout(predicates::str::contains(env!("CARGO_PKG_VERSION")));
    Command::new(env!("CARGO_BIN_EXE_advisor-engine"))
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("ksqlDB-dialect SQL"));
}
