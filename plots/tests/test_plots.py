"""Self-test of plots/allocmeter_plots.py: renders the committed summary fixture and checks every chart
file, that each chart draws the summary's own numbers (read back from the figures' artists, and
followed when the summary is changed), which charts absent data leaves out, and exit codes.
Run: /usr/bin/python3 -m unittest discover -s plots/tests   (or /usr/bin/python3 plots/tests/test_plots.py)"""

import copy
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

TESTS = os.path.dirname(os.path.abspath(__file__))
PLOTS = os.path.dirname(TESTS)
SCRIPT = os.path.join(PLOTS, "allocmeter_plots.py")
FIXTURE = os.path.join(TESTS, "summary-fixture.json")
RESULTS_FIXTURE = os.path.join(TESTS, "results-fixture.json")   # what the summary was made from
sys.path.insert(0, PLOTS)

import allocmeter_plots as plots  # noqa: E402  (after the path is set)
from matplotlib.container import BarContainer  # noqa: E402

FIXTURE_CHARTS = [
    "heatmap-time", "heatmap-rss",
    "time-frame", "time-churn", "time-sqlite-index",
    "scaling",
    "latency-frame", "latency-churn", "latency-sqlite-index",
    "rss-frame", "rss-churn", "rss-sqlite-index",
]
TRACE = "trace:workloads/traces/sqlite-index.trace"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"
MIB = 1024 * 1024


def run_script(*args, env=None):
    """The script as the C++ side runs it, in its own process: (exit code, stdout, stderr)."""
    done = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, env=env)
    return done.returncode, done.stdout, done.stderr


def svg_texts(path):
    """Every piece of text in an SVG (matplotlib writes each line of a label as its own <text>)."""
    root = ET.parse(path).getroot()
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG_NS}text")]


def load_fixture():
    with open(FIXTURE, encoding="utf-8") as f:
        return json.load(f)


def write_summary(folder, data):
    """data as folder/summary.json, its results path made absolute so the copy still names the fixture."""
    os.makedirs(folder, exist_ok=True)
    data = dict(data, results=RESULTS_FIXTURE)
    path = os.path.join(folder, "summary.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return path


def row_of(data, allocator, workload, threads):
    """The summary's row, or None when the group has none for that allocator."""
    group = next(g for g in data["groups"] if (g["workload"], g["threads"]) == (workload, threads))
    return next((r for r in group["rows"] if r["allocator"] == allocator), None)


def names_of(data):
    return [a["name"] for a in data["allocators"]]


def ratio_text(r):
    """How a chart writes a ratio under 10 (every one in the fixture): two decimals and an x."""
    return f"{r:.2f}x"


def model_of(data, folder=TESTS):
    return plots.RunModel(os.path.join(folder, "summary.json"), data)


class FixtureCharts(unittest.TestCase):
    """The fixture rendered once through the command line; each test checks one aspect of it."""

    @classmethod
    def setUpClass(cls):
        cls.temp = tempfile.TemporaryDirectory(prefix="allocmeter-plots-")
        cls.out = os.path.join(cls.temp.name, "charts")
        cls.rc, cls.stdout, cls.stderr = run_script(FIXTURE, "-o", cls.out)
        with open(os.path.join(cls.out, "charts.json"), encoding="utf-8") as f:
            cls.index = json.load(f)
        cls.by_name = {c["name"]: c for c in cls.index["charts"]}
        cls.data = load_fixture()

    @classmethod
    def tearDownClass(cls):
        cls.temp.cleanup()

    def test_exit_status_and_summary_line(self):
        self.assertEqual(self.rc, 0, self.stderr)
        self.assertEqual(self.stdout, f"wrote {len(FIXTURE_CHARTS)} charts (png, svg) to {self.out}\n")

    def test_every_expected_chart_is_listed_in_reading_order(self):
        self.assertEqual(self.index["schema"], "allocmeter-charts/1")
        # "results" names the results file, as before; the summary's relative name is beside the summary.
        self.assertEqual(self.index["results"], RESULTS_FIXTURE)
        self.assertEqual([c["name"] for c in self.index["charts"]], FIXTURE_CHARTS)

    def test_entries_have_kind_title_caption_and_both_files(self):
        kinds = {"heatmap": "heatmap", "time": "relative", "scaling": "scaling", "latency": "latency",
                 "rss": "rss"}
        for chart in self.index["charts"]:
            with self.subTest(chart=chart["name"]):
                self.assertEqual(chart["kind"], kinds[chart["name"].split("-")[0]])
                self.assertGreater(len(chart["title"]), 10)
                self.assertGreater(len(chart["caption"]), 60)
                self.assertEqual(chart["files"], {"png": chart["name"] + ".png", "svg": chart["name"] + ".svg"})

    def test_pngs_are_slide_sized_images_with_content(self):
        import matplotlib.image
        import numpy
        for chart in self.index["charts"]:
            path = os.path.join(self.out, chart["files"]["png"])
            with self.subTest(png=path):
                with open(path, "rb") as f:
                    head = f.read(33)
                self.assertEqual(head[:8], PNG_SIGNATURE)
                length, kind, width, height = struct.unpack(">I4sII", head[8:24])
                self.assertEqual(kind, b"IHDR")
                self.assertGreater(width, 0)
                self.assertGreater(height, 0)
                self.assertAlmostEqual(width / height, 16 / 9, delta=0.02)   # fits a 16:9 slide
                pixels = matplotlib.image.imread(path)
                self.assertEqual(pixels.shape[:2], (height, width))
                # Pack each pixel's 8-bit channels into one integer: unique() on rows is far slower.
                channels = numpy.round(pixels * 255).astype(numpy.uint32)
                packed = numpy.zeros(channels.shape[:2], dtype=numpy.uint32)
                for i in range(channels.shape[-1]):
                    packed |= channels[..., i] << (8 * i)
                self.assertGreater(len(numpy.unique(packed)), 16, "a near-blank image")

    def test_svgs_parse_and_keep_their_text(self):
        for chart in self.index["charts"]:
            path = os.path.join(self.out, chart["files"]["svg"])
            with self.subTest(svg=path):
                root = ET.parse(path).getroot()
                self.assertEqual(root.tag, f"{SVG_NS}svg")
                # Text stays text (searchable, scalable); the title is there word for word.
                self.assertIn(chart["title"], svg_texts(path))

    def test_titles_name_the_workload_baseline_and_reps(self):
        self.assertEqual(self.by_name["time-sqlite-index"]["title"],
                         "sqlite-index: time and peak RSS relative to system (median of 5 reps)")
        self.assertIn("relative to system (median of 5 reps)", self.by_name["heatmap-time"]["title"])

    def test_legends_and_labels_are_the_summarys_labels(self):
        labels = [a["label"] for a in self.data["allocators"]]
        self.assertIn("jemalloc 5.3.0", labels)
        for name in ("time-frame", "scaling", "latency-frame", "rss-frame", "heatmap-time"):
            with self.subTest(chart=name):
                texts = svg_texts(os.path.join(self.out, name + ".svg"))
                for label in labels:
                    self.assertIn(label, texts)
        self.assertIn("live bytes (requested)", svg_texts(os.path.join(self.out, "rss-churn.svg")))
        self.assertIn("2 threads", svg_texts(os.path.join(self.out, "time-frame.svg")))

    def test_heatmap_svgs_show_every_ratio_in_the_summary(self):
        for metric in ("time", "rss"):
            with self.subTest(metric=metric):
                expected = list(ratio_text(r[metric]["ratio"]) for g in self.data["groups"] for r in g["rows"]
                                  if r[metric] and r[metric]["ratio"] is not None)
                self.assertEqual(len(expected), 26)   # 30 rows, 4 of them skipped
                texts = svg_texts(os.path.join(self.out, f"heatmap-{metric}.svg"))
                for text in set(expected):
                    self.assertGreaterEqual(texts.count(text), expected.count(text), text)

    def test_cells_without_ok_reps_show_their_status(self):
        # bump skipped churn at 1 and 2 threads and the trace; segregated skipped churn at 2 threads.
        texts = svg_texts(os.path.join(self.out, "heatmap-time.svg"))
        self.assertEqual(texts.count("skipped"), 4)
        churn = svg_texts(os.path.join(self.out, "time-churn.svg"))
        self.assertEqual(churn.count("(skipped)"), 2)                 # bump, in each of the two panels
        self.assertEqual(churn.count("(2 threads: skipped)"), 2)      # segregated, in each panel

    def test_captions_give_the_confidence_level_of_five_reps(self):
        self.assertIn("93.75% confidence interval", self.by_name["time-frame"]["caption"])
        self.assertIn("93.75% confidence interval", self.by_name["scaling"]["caption"])

    def test_latency_captions_give_the_sampling_rate(self):
        self.assertEqual(self.data["latency_every"], 64)
        self.assertIn("one call in every 64", self.by_name["latency-frame"]["caption"])


class PlottedData(unittest.TestCase):
    """What the figures draw, read back from their artists: each number is the summary's."""

    @classmethod
    def setUpClass(cls):
        plots._setup_matplotlib()
        cls.data = load_fixture()
        cls.model = model_of(cls.data)
        cls.allocators = names_of(cls.data)

    def test_heatmap_cells_are_the_summarys_ratios_in_place(self):
        columns = [(g["workload"], g["threads"]) for g in self.data["groups"]]
        texts = {}
        for metric in (plots.TIME, plots.PEAK_RSS):
            with self.subTest(metric=metric.key):
                ax = plots.heatmap_chart(self.model, metric).figure.axes[0]
                drawn = texts[metric.key] = {tuple(round(v) for v in t.get_position()): t.get_text() for t in ax.texts}
                colours = ax.images[0].get_array()
                for j, (w, t) in enumerate(columns):
                    for i, a in enumerate(self.allocators):
                        row = row_of(self.data, a, w, t)
                        if row[metric.key] is None:
                            self.assertEqual(drawn[(j, i)], row["status"])
                            self.assertTrue(colours.mask[i, j])
                            continue
                        ratio = row[metric.key]["ratio"]
                        self.assertEqual(drawn[(j, i)], ratio_text(ratio), (a, w, t))
                        self.assertEqual(colours[i, j], ratio, (a, w, t))   # the cell's colour, exactly
        self.assertEqual(texts["time"][(0, 3)], "0.57x")   # segregated on frame at 1 thread, as the harness's table has it

    def test_time_and_rss_bars_run_from_one_to_the_ratio_with_its_ci(self):
        for workload in ("frame", "churn", TRACE):
            chart = plots.time_chart(self.model, workload)
            threads = self.model.threads_of[workload]
            # The left panel, the right panel, then the legend strip.
            for ax, key in ((chart.figure.axes[0], "time"), (chart.figure.axes[1], "rss")):
                with self.subTest(workload=workload, metric=key):
                    expected = [row_of(self.data, a, workload, t)[key] for a in self.allocators for t in threads
                                if row_of(self.data, a, workload, t)[key] is not None]
                    bars = [c for c in ax.containers if isinstance(c, BarContainer)]   # one per allocator and threads
                    self.assertEqual(len(bars), len(expected))
                    for bar, m in zip(bars, expected):
                        patch = bar.patches[0]
                        self.assertEqual(patch.get_x(), 1.0)
                        self.assertAlmostEqual(patch.get_x() + patch.get_width(), m["ratio"], places=12)
                        (low, _), (high, _) = bar.errorbar.lines[2][0].get_segments()[0]
                        self.assertAlmostEqual(low, m["ratio_ci_low"], places=12)
                        self.assertAlmostEqual(high, m["ratio_ci_high"], places=12)
                    labels = [t.get_text() for t in ax.texts if t.get_text().endswith("x")]
                    self.assertEqual(labels, [ratio_text(m["ratio"]) for m in expected])

    def test_scaling_points_are_the_summarys_throughput_and_ci(self):
        chart = plots.scaling_chart(self.model)
        for ax, workload in zip(chart.figure.axes, ("frame", "churn")):
            with self.subTest(workload=workload):
                expected = [[row_of(self.data, a, workload, t)["throughput"] for t in (1, 2)
                             if row_of(self.data, a, workload, t)["throughput"]] for a in self.allocators]
                expected = [points for points in expected if points]
                self.assertEqual(len(ax.containers), len(expected))
                for line, points in zip(ax.containers, expected):
                    mid = line.lines[0].get_ydata()
                    ends = [segment[:, 1] for segment in line.lines[2][0].get_segments()]
                    for y, (low, high), p in zip(mid, ends, points):
                        self.assertAlmostEqual(y, p["median"] / 1e6, places=9)
                        self.assertAlmostEqual(low, p["ci_low"] / 1e6, places=9)
                        self.assertAlmostEqual(high, p["ci_high"] / 1e6, places=9)

    def test_latency_points_are_the_summarys_percentiles(self):
        chart = plots.latency_chart(self.model, "frame")
        # Panels: allocation at 1 and 2 threads, then free at 1 and 2 threads.
        for ax, (side, threads) in zip(chart.figure.axes, [("alloc", 1), ("alloc", 2), ("free", 1), ("free", 2)]):
            with self.subTest(side=side, threads=threads):
                expected = [row_of(self.data, a, "frame", threads)[f"latency_{side}"] for a in self.allocators]
                expected = [[p[k] for k in ("p50", "p90", "p99", "p999", "max")] for p in expected if p]
                self.assertEqual([list(line.get_ydata()) for line in ax.lines], expected)

    def test_rss_lines_are_the_summarys_median_rep_series(self):
        chart = plots.rss_chart(self.model, "churn")
        for ax, threads in zip(chart.figure.axes, (1, 2)):
            with self.subTest(threads=threads):
                series = [row_of(self.data, a, "churn", threads)["median_rep_series"] for a in self.allocators]
                series = [s for s in series if s]
                coloured = [line for line in ax.lines if line.get_color() != "black"]
                self.assertEqual([list(line.get_xdata()) for line in coloured], [s["t_ms"] for s in series])
                self.assertEqual([list(line.get_ydata()) for line in coloured],
                                 [[b / MIB for b in s["rss_bytes"]] for s in series])
                # The dashed line is the baseline's live bytes.
                live = row_of(self.data, "system", "churn", threads)["median_rep_series"]["live_bytes"]
                black = [list(line.get_ydata()) for line in ax.lines if line.get_color() == "black"]
                self.assertEqual(black, [[b / MIB for b in live]])


class FollowsTheSummary(unittest.TestCase):
    """A summary changed by hand: the charts draw the changed values, so none is worked out anew."""

    @classmethod
    def setUpClass(cls):
        plots._setup_matplotlib()
        data = load_fixture()
        jemalloc = row_of(data, "jemalloc", "frame", 1)
        jemalloc["time"].update(ratio=3.21, ratio_ci_low=3.0, ratio_ci_high=3.5, ci_level=0.96875)
        jemalloc["rss"].update(ratio=0.123, ratio_ci_low=0.1, ratio_ci_high=0.15)
        jemalloc["throughput"].update(median=7.77e6, ci_low=7.5e6, ci_high=8e6)
        jemalloc["latency_alloc"]["p50"] = 1234.0
        jemalloc["median_rep_series"]["rss_bytes"] = [5 * MIB] * len(jemalloc["median_rep_series"]["t_ms"])
        next(a for a in data["allocators"] if a["name"] == "jemalloc")["label"] = "jemalloc (label from the summary)"
        data["reps"] = 7
        cls.data = data
        cls.model = model_of(data)

    def test_heatmaps_show_the_changed_ratios(self):
        time = [t.get_text() for t in plots.heatmap_chart(self.model, plots.TIME).figure.axes[0].texts]
        rss = [t.get_text() for t in plots.heatmap_chart(self.model, plots.PEAK_RSS).figure.axes[0].texts]
        self.assertIn("3.21x", time)
        self.assertIn("0.12x", rss)

    def test_bars_end_at_the_changed_ratio_with_the_changed_ci(self):
        chart = plots.time_chart(self.model, "frame")
        bars = [c for c in chart.figure.axes[0].containers if isinstance(c, BarContainer)]
        first = bars[2]   # system at 1 and 2 threads, then jemalloc at 1 thread
        patch = first.patches[0]
        self.assertAlmostEqual(patch.get_x() + patch.get_width(), 3.21, places=12)
        (low, _), (high, _) = first.errorbar.lines[2][0].get_segments()[0]
        self.assertEqual((low, high), (3.0, 3.5))
        self.assertIn("93.75-96.88% confidence interval", chart.caption)   # the levels are the summary's
        self.assertIn("(median of 7 reps)", chart.title)

    def test_scaling_latency_and_rss_draw_the_changed_figures(self):
        scaling = plots.scaling_chart(self.model).figure.axes[0].containers[1]   # frame, jemalloc
        self.assertAlmostEqual(scaling.lines[0].get_ydata()[0], 7.77)
        latency = plots.latency_chart(self.model, "frame").figure.axes[0].lines[1]   # alloc, 1 thread
        self.assertEqual(latency.get_ydata()[0], 1234.0)
        rss = plots.rss_chart(self.model, "frame").figure.axes[0].lines[1]
        self.assertEqual(set(rss.get_ydata()), {5.0})

    def test_labels_are_the_summarys(self):
        chart = plots.time_chart(self.model, "frame")
        labels = [t.get_text() for t in chart.figure.axes[0].get_yticklabels()]
        self.assertEqual(labels[1], "jemalloc (label from the summary)")
        legend = plots.scaling_chart(self.model).figure.axes[-1].get_legend()
        self.assertIn("jemalloc (label from the summary)", [t.get_text() for t in legend.get_texts()])

    def test_the_baseline_is_the_summarys(self):
        # The rows still hold system's ratios: only the words are checked, and they must name the
        # baseline the summary gives, not one chosen here.
        data = dict(copy.deepcopy(self.data), baseline="mimalloc")
        chart = plots.heatmap_chart(model_of(data), plots.TIME)
        self.assertTrue(chart.title.startswith("Time per operation relative to mimalloc, as system was not run"))


class Layout(unittest.TestCase):
    """Names and order on the charts: drawing choices, made here."""

    def test_trace_workloads_are_named_by_their_stem(self):
        self.assertEqual(plots.workload_short_name("trace:workloads/traces/sqlite-index.trace"), "sqlite-index")
        self.assertEqual(plots.workload_short_name("churn"), "churn")

    def test_file_names_are_safe_and_unique(self):
        self.assertEqual(plots._file_names(["frame", "trace:a/b c.trace", "trace:x/b c.trace"]),
                         {"frame": "frame", "trace:a/b c.trace": "b_c", "trace:x/b c.trace": "b_c-2"})

    def test_thread_counts_ascend_whatever_order_the_run_had(self):
        data = load_fixture()
        data["groups"].reverse()   # as a run with --threads 2,1 lists them
        plots._setup_matplotlib()
        model = model_of(data)
        self.assertEqual(model.threads_of, {"frame": [1, 2], "churn": [1, 2], TRACE: [1]})
        frame = plots.scaling_chart(model).figure.axes[0]
        self.assertEqual(list(frame.get_xticks()), [1, 2])


    def test_titles_give_the_range_when_groups_have_different_reps(self):
        # A --reps auto run stops each group on its own: the titles say the range, not the largest.
        data = load_fixture()
        row_of(data, "system", "frame", 1)["time"]["n"] = 6
        row_of(data, "jemalloc", "churn", 2)["time"]["n"] = 30
        plots._setup_matplotlib()
        model = model_of(data)
        self.assertEqual(model.reps_text(), "5 to 30")
        self.assertIn("(median of 5 to 30 reps)", plots.heatmap_chart(model, plots.TIME).title)
        self.assertEqual(model_of(load_fixture()).reps_text(), "5")


class AbsentData(unittest.TestCase):
    """Chart kinds whose data is missing are not drawn, and the fallbacks say what they did."""

    def setUp(self):
        self.temp = tempfile.TemporaryDirectory(prefix="allocmeter-plots-")
        self.addCleanup(self.temp.cleanup)

    def test_no_latency_rss_or_second_thread_count_leaves_only_heatmaps_and_bars(self):
        data = load_fixture()
        data["groups"] = [g for g in data["groups"] if g["threads"] == 1]
        for g in data["groups"]:
            for r in g["rows"]:
                r.update(latency_alloc=None, latency_free=None)   # --latency off
                r["median_rep_series"] = None                     # --sample-ms 0
        run = os.path.join(self.temp.name, "run")
        write_summary(run, data)
        rc, stdout, stderr = run_script(run, "--formats", "png")   # a folder, default DIR
        self.assertEqual(rc, 0, stderr)
        out = os.path.join(run, "charts")
        self.assertEqual(stdout, f"wrote 5 charts (png) to {out}\n")
        with open(os.path.join(out, "charts.json"), encoding="utf-8") as f:
            index = json.load(f)
        self.assertEqual(index["results"], RESULTS_FIXTURE)
        self.assertEqual([c["name"] for c in index["charts"]],
                         ["heatmap-time", "heatmap-rss", "time-frame", "time-churn", "time-sqlite-index"])
        for chart in index["charts"]:
            self.assertEqual(chart["files"], {"png": chart["name"] + ".png"})
        self.assertEqual(sorted(os.listdir(out)), sorted(["charts.json"] + [c["name"] + ".png" for c in index["charts"]]))

    def test_without_system_the_summarys_baseline_is_named_and_titles_say_so(self):
        # As the C++ side writes it without system: jemalloc, the first run, is the baseline. The
        # ratios are left over system's: these tests read words.
        data = load_fixture()
        data["allocators"] = [a for a in data["allocators"] if a["name"] != "system"]
        for g in data["groups"]:
            g["rows"] = [r for r in g["rows"] if r["allocator"] != "system"]
        data["baseline"] = "jemalloc"
        model = model_of(data)
        plots._setup_matplotlib()
        chart = plots.heatmap_chart(model, plots.TIME)
        self.assertEqual(chart.title, "Time per operation relative to jemalloc, as system was not run "
                                      "(median of 5 reps)")
        self.assertIn("System was not run, so jemalloc", chart.caption)
        bars = plots.time_chart(model, "frame")
        self.assertTrue(bars.title.startswith("frame: time and peak RSS relative to jemalloc, as system"))

    def test_a_row_without_a_ratio_says_there_was_no_baseline_result(self):
        data = load_fixture()
        for key in ("time", "rss"):
            row_of(data, "mimalloc", "frame", 1)[key].update(ratio=None, ratio_ci_low=None, ratio_ci_high=None)
        plots._setup_matplotlib()
        model = model_of(data)
        self.assertIn("no baseline", [t.get_text() for t in plots.heatmap_chart(model, plots.TIME).figure.axes[0].texts])
        texts = [t.get_text() for t in plots.time_chart(model, "frame").figure.axes[0].texts]
        self.assertIn("(1 thread: no system result)", texts)

    def test_scaling_leaves_out_trace_workloads(self):
        data = load_fixture()
        data["groups"] = [g for g in data["groups"] if g["workload"] == TRACE]
        # The trace at two thread counts (which a real run cannot give) is still no scaling chart.
        data["groups"] += [dict(copy.deepcopy(g), threads=2) for g in data["groups"]]
        plots._setup_matplotlib()
        self.assertIsNone(plots.scaling_chart(model_of(data)))


class InputErrors(unittest.TestCase):
    """Exit 2 with a message naming the file and what to do, exit 3 without matplotlib."""

    def setUp(self):
        self.temp = tempfile.TemporaryDirectory(prefix="allocmeter-plots-")
        self.addCleanup(self.temp.cleanup)

    def write(self, name, text):
        path = os.path.join(self.temp.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def assert_input_error(self, path, *words):
        rc, stdout, stderr = run_script(path)
        self.assertEqual(rc, 2, stderr)
        self.assertEqual(stdout, "")
        self.assertIn(path, stderr)
        for w in words:
            self.assertIn(w, stderr)
        self.assertEqual(stderr.count("\n"), 1, stderr)   # one line, no traceback

    def test_missing_file(self):
        self.assert_input_error(os.path.join(self.temp.name, "nothing.json"), "no such file", "summary.json")

    def test_folder_without_summary(self):
        self.assert_input_error(self.temp.name, "without summary.json", "allocmeter plot")

    def test_not_json(self):
        self.assert_input_error(self.write("broken.json", '{"schema": "allocmeter-summary/1", "groups": ['),
                                "not JSON", "allocmeter plot")

    def test_json_that_is_not_a_summary(self):
        self.assert_input_error(self.write("other.json", '{"schema": "something-else", "rows": []}'),
                                'schema "something-else"', "allocmeter-summary/1", "allocmeter plot")

    def test_a_results_file_is_not_a_summary(self):
        self.assert_input_error(RESULTS_FIXTURE, "a results file, not a summary", "summary.json beside it")

    def test_summary_without_a_field_it_needs(self):
        data = load_fixture()
        del data["groups"][1]["rows"][2]["status"]
        self.assert_input_error(self.write("cut.json", json.dumps(data)),
                                "groups[1].rows[2] has no usable 'status'", "allocmeter plot")

    def test_no_ok_rows(self):
        data = load_fixture()
        for g in data["groups"]:
            for r in g["rows"]:
                r.update(status="failed", time=None, rss=None, throughput=None)
        self.assert_input_error(self.write("failed.json", json.dumps(data)), "no ok rows", "30 failed")

    def test_no_matplotlib_exits_3_with_the_install_hint(self):
        # Hide matplotlib from this interpreter (None in sys.modules makes its import fail).
        code = (f"import sys; sys.modules['matplotlib'] = None; sys.path.insert(0, {PLOTS!r}); "
                f"import allocmeter_plots; sys.exit(allocmeter_plots.main([{FIXTURE!r}, '-o', {self.temp.name!r}]))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        self.assertEqual(done.returncode, 3, done.stderr)
        self.assertIn(f"this Python ({sys.executable}) has no matplotlib", done.stderr)
        self.assertIn("apt-get install python3-matplotlib", done.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.temp.name, "charts.json")))


class CallgrindCharts(unittest.TestCase):
    """A run --measure callgrind's summary: the fixture with counts in every ok row. Its charts are
    the two instruction heat maps (times under Valgrind are Valgrind's), each cell showing the
    row's own count, coloured by its ratio to the baseline's."""

    @classmethod
    def setUpClass(cls):
        cls.temp = tempfile.TemporaryDirectory(prefix="allocmeter-plots-callgrind-")
        cls.data = copy.deepcopy(load_fixture())
        cls.data["measure"] = "callgrind"
        for g in cls.data["groups"]:
            for r in g["rows"]:
                if r["time"]:
                    ns = r["time"]["median"]
                    r["callgrind"] = {"per_op": {"instructions_per_op": 7 * ns, "allocator_instructions_per_op": 3 * ns},
                                      "ratio": None, "allocator_ratio": None, "threads_serialised": g["threads"] > 1}
        cls.out = os.path.join(cls.temp.name, "charts")
        cls.rc, cls.stdout, cls.stderr = run_script(write_summary(cls.temp.name, cls.data), "-o", cls.out)
        with open(os.path.join(cls.out, "charts.json"), encoding="utf-8") as f:
            cls.index = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.temp.cleanup()

    def test_only_the_instruction_heat_maps(self):
        self.assertEqual(self.rc, 0, self.stderr)
        self.assertEqual([c["name"] for c in self.index["charts"]],
                         ["heatmap-allocator-instructions", "heatmap-instructions"])

    def test_cells_show_the_rows_counts(self):
        for name, key in (("heatmap-allocator-instructions", "allocator_instructions_per_op"),
                          ("heatmap-instructions", "instructions_per_op")):
            with self.subTest(chart=name):
                texts = svg_texts(os.path.join(self.out, f"{name}.svg"))
                expected = [plots._count_text(r["callgrind"]["per_op"][key]) for g in self.data["groups"]
                            for r in g["rows"] if r.get("callgrind")]
                self.assertEqual(len(expected), 26)
                for text in set(expected):
                    self.assertGreaterEqual(texts.count(text), expected.count(text), text)

    def test_colour_is_the_ratio_to_the_baseline(self):
        model = model_of(self.data, self.temp.name)
        row = row_of(self.data, "jemalloc", "frame", 1)
        base = row_of(self.data, self.data["baseline"], "frame", 1)
        ratio = model.relative("jemalloc", "frame", 1, plots.ALLOCATOR_INSTRUCTIONS)
        self.assertAlmostEqual(ratio[0], row["callgrind"]["per_op"]["allocator_instructions_per_op"] /
                               base["callgrind"]["per_op"]["allocator_instructions_per_op"])

    def test_captions_say_threads_ran_serialised(self):
        for chart in self.index["charts"]:
            self.assertIn("one at a time", chart["caption"])


if __name__ == "__main__":
    unittest.main()
