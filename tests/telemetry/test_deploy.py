"""The operator's kit in deploy/ stays true to the metrics Threadline serves."""

import json
import re
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # no stubs pinned
from prometheus_client.parser import text_string_to_metric_families

from threadline.telemetry import metrics

DEPLOY = Path(__file__).parent.parent.parent / "deploy"


def _served_names() -> set[str]:
    text = metrics.render(
        metrics.Gauges(
            runs_by_status={"running": 1}, commands_pending=0, start_queue_depth=0
        )
    ).decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {s.name for s in family.samples}
        names.add(family.name)
        if family.type == "counter":  # labelled, nothing counted yet: no sample
            names.add(family.name + "_total")
        if family.type == "histogram":
            names |= {family.name + "_bucket", family.name + "_count"}
    return names


def test_every_dashboard_query_names_a_served_metric():
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    served = _served_names()
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"threadline_\w+", target["expr"])
    }
    assert queried, "the dashboard queries nothing"
    # Histograms are served as _bucket/_count/_sum samples of their family.
    unknown = {
        n
        for n in queried
        if n not in served and n.removesuffix("_bucket") not in served
    }
    assert unknown == set()


def test_the_collector_config_receives_otlp_on_both_protocols():
    config = yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces"]["receivers"] == ["otlp"]
    for pipeline in pipelines.values():
        assert set(pipeline["exporters"]) <= set(config["exporters"])
        assert set(pipeline["processors"]) <= set(config["processors"])
