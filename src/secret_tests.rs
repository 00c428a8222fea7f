use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use super::*;

#[test]
fn debug_never_shows_the_value() {
    let secret = Secret::resolve("hunter2-literal").unwrap();
    assert_eq!(format!("{secret:?}"), "Secret(literal)");
}

#[test]
fn unset_env_is_named_without_value() {
    let err = Secret::resolve("env:PURGEHOOK_TEST_SURELY_UNSET").unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable PURGEHOOK_TEST_SURELY_UNSET is not set"
    );
}

#[test]
fn generated_secret_is_created_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/hook.secret");
    let reference = format!("generated:{}", path.display());
    let first = Secret::resolve(&reference).unwrap();
    let second = Secret::resolve(&reference).unwrap();
    assert!(first.expose().starts_with("whsec_"));
    assert_eq!(first, second);
    let file_ref = format!("file:{}", path.display());
    assert_eq!(Secret::resolve(&file_ref).unwrap().expose(), first.expose());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["hook.secret"], "no draft file is left behind");
}

#[test]
fn loads_racing_on_a_fresh_directory_all_get_the_same_secret() {
    // Today's race needed two loads at once; 40 rounds of 16 threads
    // starting together catch it every time.
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let reference = format!("generated:{}/data/secrets/api.token", dir.path().display());
        let start = Arc::new(Barrier::new(16));
        let loads: Vec<_> = (0..16)
            .map(|_| {
                let (reference, start) = (reference.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    Secret::resolve(&reference).map(|s| s.expose().to_string())
                })
            })
            .collect();
        let values: BTreeSet<String> = loads
            .into_iter()
            .map(|load| {
                load.join()
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}"))
            })
            .collect();
        assert_eq!(values.len(), 1, "round {round}: {values:?}");
        assert!(values.iter().all(|v| v.starts_with("whsec_")));
    }
}

#[test]
fn an_existing_generated_file_is_never_replaced_and_an_empty_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.secret");
    std::fs::write(&path, "whsec_mine\n").unwrap();
    let reference = format!("generated:{}", path.display());
    assert_eq!(Secret::resolve(&reference).unwrap().expose(), "whsec_mine");

    std::fs::write(&path, "").unwrap();
    let error = Secret::resolve(&reference).unwrap_err().to_string();
    assert!(error.contains("exists but is empty"), "{error}");
    assert!(error.contains("kept.secret"), "{error}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
}
