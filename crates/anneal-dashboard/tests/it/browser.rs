//! The pages in a real browser: Chromium, headless, driven over WebDriver. Each
//! test checks what a person would see (row counts, chart elements, a live update)
//! and saves a screenshot of the page.

use anneal_core::lock::FolderLock;
use anneal_core::status::{RunState, RunStatus};
use anneal_hpo::Storage;

use crate::support::{Browser, serve};

#[test]
fn the_runs_page_filters_sorts_overlays_and_escapes_names() {
    let Some(browser) = Browser::start() else { return };
    let s = serve(&[]);
    browser.open(&format!("{}/#/", s.base()));
    assert_eq!(browser.wait_for("document.querySelectorAll('#runs-table tbody tr').length === 5 && 5"), 5);
    let statuses = browser.eval("return [...document.querySelectorAll('#runs-table [data-status]')].map(b => b.dataset.status).sort().join(',')");
    assert_eq!(statuses, "diverged,finished,finished,finished,stopped");

    // Filter, then clear.
    browser.type_into("#run-filter", "cartpole");
    assert_eq!(browser.wait_for("document.querySelectorAll('#runs-table tbody tr').length === 1 && 1"), 1);
    browser.eval(
        "const f = document.getElementById('run-filter'); f.value = ''; f.dispatchEvent(new Event('input')); return 0",
    );
    browser.wait_for("document.querySelectorAll('#runs-table tbody tr').length === 5");

    // Sorted by run name; a real click on the header reverses it, another sorts by records.
    let first = "document.querySelector('#runs-table tbody tr').dataset.run";
    assert_eq!(browser.eval(&format!("return {first}")), "diverged");
    browser.click("#runs-table th[data-key=id]");
    assert_eq!(browser.wait_for(&format!("{first} === 'stopped' && {first}")), "stopped");
    browser.click("#runs-table th[data-key=records]");
    assert_eq!(browser.wait_for(&format!("{first} === 'diverged' && {first}")), "diverged");

    // Two runs ticked: their curves overlaid in one chart.
    browser.click("input.select-run[data-run=penguins]");
    browser.click("input.select-run[data-run=stopped]");
    assert_eq!(browser.wait_for("document.querySelectorAll('#overlay-chart path.series').length === 2 && 2"), 2);
    assert_eq!(browser.eval("return document.getElementById('overlay-metric').value"), "val_loss");
    browser.screenshot("dashboard-runs");

    // A run whose name is markup shows as text.
    let evil = "<img src=x onerror=document.title='pwned'>";
    std::fs::create_dir_all(s.runs().join(evil)).unwrap();
    std::fs::copy(s.runs().join("stopped/metrics.jsonl"), s.runs().join(evil).join("metrics.jsonl")).unwrap();
    browser.open(&format!("{}/#/studies", s.base()));
    browser.open(&format!("{}/#/", s.base()));
    assert_eq!(browser.wait_for("document.querySelectorAll('#runs-table tbody tr').length === 6 && 6"), 6);
    assert_eq!(browser.eval("return document.querySelectorAll('#runs-table img').length"), 0);
    assert_ne!(browser.eval("return document.title"), "pwned");
    let names = browser.eval(
        "return [...document.querySelectorAll('#runs-table tbody tr td:nth-child(2)')].map(td => td.textContent)",
    );
    assert!(names.as_array().unwrap().iter().any(|n| n == evil), "{names}");
}

#[test]
fn a_running_run_updates_live_when_an_epoch_is_appended() {
    let Some(browser) = Browser::start() else { return };
    let s = serve(&[]);
    let dir = s.runs().join("stopped");
    let lock = FolderLock::acquire(&dir).unwrap();
    browser.open(&format!("{}/#/run/stopped", s.base()));
    assert_eq!(browser.wait_for("document.getElementById('record-count').dataset.count === '5' && 5"), 5);
    assert_eq!(browser.eval("return document.querySelector('#run-summary [data-status]').dataset.status"), "running");
    let groups =
        browser.eval("return [...document.querySelectorAll('.curve-chart')].map(c => c.dataset.group).join(',')");
    assert_eq!(groups, "loss,accuracy,learning_rate");
    let points = "document.querySelector('.curve-chart[data-group=loss] path[data-series=val_loss]').dataset.points";
    assert_eq!(browser.eval(&format!("return {points}")), "5");

    let mut f = std::fs::OpenOptions::new().append(true).open(dir.join("metrics.jsonl")).unwrap();
    std::io::Write::write_all(&mut f, b"{\"epoch\":6,\"train_loss\":0.12,\"learning_rate\":0.01,\"seconds\":0.002,\"train_accuracy\":0.97,\"val_accuracy\":0.95,\"val_loss\":0.15}\n").unwrap();
    assert_eq!(browser.wait_for("document.getElementById('record-count').dataset.count === '6' && 6"), 6);
    assert_eq!(browser.eval(&format!("return {points}")), "6");

    // It finishes: the page says so without a reload.
    RunStatus::new(RunState::Finished, "").write(&dir).unwrap();
    drop(lock);
    browser.wait_for("document.querySelector('#run-summary [data-status]').dataset.status === 'finished'");
}

#[test]
fn a_finished_run_and_a_novel_kind_show_their_curves_metrics_and_figures() {
    let Some(browser) = Browser::start() else { return };
    let s = serve(&[]);
    browser.open(&format!("{}/#/run/penguins", s.base()));
    browser.wait_for("document.querySelectorAll('#figures img').length === 2");
    browser.wait_for("[...document.querySelectorAll('#figures img')].every(i => i.complete && i.naturalWidth > 0)");
    assert_eq!(browser.eval("return document.querySelectorAll('.curve-chart').length"), 4);
    let metrics = browser.eval("return document.getElementById('test-metrics').textContent");
    assert!(metrics.as_str().unwrap().contains("accuracy"), "{metrics}");
    assert!(
        browser.eval("return document.getElementById('energy').textContent").as_str().unwrap().contains("energy_wh")
    );
    assert!(
        browser.eval("return document.getElementById('config').textContent").as_str().unwrap().contains("[optimizer]")
    );
    browser.screenshot("dashboard-run");

    browser.open(&format!("{}/#/run/novel-translation", s.base()));
    browser.wait_for("document.querySelectorAll('.curve-chart').length === 3");
    let groups =
        browser.eval("return [...document.querySelectorAll('.curve-chart')].map(c => c.dataset.group).join(',')");
    assert_eq!(groups, "bleu,perplexity,tokens");
    assert!(
        browser.eval("return document.getElementById('test-metrics').textContent").as_str().unwrap().contains("chrf")
    );

    browser.open(&format!("{}/#/run/diverged", s.base()));
    let message = browser.wait_for("document.getElementById('run-summary').textContent.includes('diverged') && document.getElementById('run-summary').textContent");
    assert!(message.as_str().unwrap().contains("the loss is NaN"), "{message}");
}

#[test]
fn the_study_page_draws_every_chart_and_follows_new_trials() {
    let Some(browser) = Browser::start() else { return };
    let s = serve(&[]);
    browser.open(&format!("{}/#/studies", s.base()));
    assert_eq!(browser.wait_for("document.querySelectorAll('#studies-table tbody tr').length"), 1);
    let counts = browser.eval("return document.querySelector('#studies-table tbody tr').textContent");
    assert!(counts.as_str().unwrap().contains("fixture-study"), "{counts}");
    browser.screenshot("dashboard-studies");
    browser.click("#studies-table tbody a");
    assert_eq!(browser.wait_for("document.querySelectorAll('#trials-table tbody tr').length === 41 && 41"), 41);
    let v = s.json("/api/study?source=runs%2Ftune%2Fstudy.db&name=fixture-study");
    let count = |state: &str| v["trials"].as_array().unwrap().iter().filter(|t| t["state"] == state).count();
    let (complete, pruned) = (count("complete"), count("pruned"));
    let n = |selector: &str| {
        browser.eval(&format!("return document.querySelectorAll('{selector}').length")).as_u64().unwrap() as usize
    };
    assert_eq!(n("#history-chart circle.trial-point"), complete);
    assert_eq!(n("#history-chart path.best-line"), 1);
    assert_eq!(n("#importance-chart rect.bar"), 3);
    assert_eq!(n("#parallel-chart path.pc-line"), complete);
    assert_eq!(n("#parallel-chart line.pc-axis"), 4);
    assert_eq!(n("svg.slice-chart"), 3);
    assert_eq!(n("#curves-chart path.pruned-curve"), pruned);
    assert_eq!(n("#trials-table tr.best"), 1);

    // Only the pruned trials.
    browser.eval("const s = document.getElementById('trial-state'); s.value = 'pruned'; s.dispatchEvent(new Event('change')); return 0");
    assert_eq!(n("#trials-table tbody tr"), pruned);
    browser.eval("const s = document.getElementById('trial-state'); s.value = ''; s.dispatchEvent(new Event('change')); return 0");
    browser.screenshot("dashboard-study");

    // A worker finishes a trial: the page shows it without a reload.
    let storage = anneal_hpo::sqlite::SqliteStorage::open(s.runs().join("tune/study.db")).unwrap();
    let id = storage.studies().unwrap()[0].id;
    let t = storage.create_trial(id, anneal_hpo::storage::now_ms()).unwrap();
    storage.set_param(t.id, "x", &anneal_hpo::Distribution::float(-2.0, 2.0), 0.0).unwrap();
    storage.finish_trial(t.id, anneal_hpo::TrialState::Complete, Some(0.01), anneal_hpo::storage::now_ms()).unwrap();
    assert_eq!(browser.wait_for("document.querySelectorAll('#trials-table tbody tr').length === 42 && 42"), 42);
    browser.wait_for(&format!(
        "document.querySelectorAll('#history-chart circle.trial-point').length === {}",
        complete + 1
    ));
}
