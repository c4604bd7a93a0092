"""Self-test of plots/allocmeter_plots.py: renders the committed fixture run and checks every chart
file, the statistics against hand-worked cases, which charts absent data leaves out, and exit codes.
Run: /usr/bin/python3 -m unittest discover -s plots/tests   (or /usr/bin/python3 plots/tests/test_plots.py)"""

import copy
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

TESTS = os.path.dirname(os.path.abspath(__file__))
PLOTS = os.path.dirname(TESTS)
SCRIPT = os.path.join(PLOTS, "allocmeter_plots.py")
FIXTURE = os.path.join(TESTS, "results-fixture.json")
sys.path.insert(0, PLOTS)

import allocmeter_plots as plots  # noqa: E402  (after the path is set)

FIXTURE_CHARTS = [
    "heatmap-time", "heatmap-rss",
    "time-frame", "time-churn", "time-sqlite-index",
    "scaling",
    "latency-frame", "latency-churn", "latency-sqlite-index",
    "rss-frame", "rss-churn", "rss-sqlite-index",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"


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


def write_results(folder, data):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "results.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return path


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

    @classmethod
    def tearDownClass(cls):
        cls.temp.cleanup()

    def test_exit_status_and_summary_line(self):
        self.assertEqual(self.rc, 0, self.stderr)
        self.assertEqual(self.stdout, f"wrote {len(FIXTURE_CHARTS)} charts (png, svg) to {self.out}\n")

    def test_every_expected_chart_is_listed_in_reading_order(self):
        self.assertEqual(self.index["schema"], "allocmeter-charts/1")
        self.assertEqual(os.path.abspath(self.index["results"]), os.path.abspath(FIXTURE))
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
                packed = sum(channels[..., i] << (8 * i) for i in range(channels.shape[-1]))
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

    def test_legends_and_labels_name_allocators_with_versions(self):
        for name in ("time-frame", "scaling", "latency-frame", "rss-frame"):
            with self.subTest(chart=name):
                texts = svg_texts(os.path.join(self.out, name + ".svg"))
                for label in ("system (glibc 2.36)", "jemalloc 5.3.0", "mimalloc 2.0.9", "bump (reference)"):
                    self.assertIn(label, texts)
        self.assertIn("live bytes (requested)", svg_texts(os.path.join(self.out, "rss-churn.svg")))
        self.assertIn("2 threads", svg_texts(os.path.join(self.out, "time-frame.svg")))

    def test_heatmap_annotations_are_median_ratios_to_system(self):
        # Worked here from the raw cells with the standard library's median, not with the module's.
        data = load_fixture()
        ns = {}
        for c in data["cells"]:
            if c["status"] == "ok":
                ns.setdefault((c["allocator"], c["workload"], c["threads"]), []).append(c["metrics"]["ns_per_op"])
        expected = sorted(f"{statistics.median(v) / statistics.median(ns[('system', w, t)]):.2f}x"
                          for (a, w, t), v in ns.items())
        self.assertIn("0.57x", expected)   # segregated on frame at 1 thread, as the harness's table has it
        plots._setup_matplotlib()
        chart = plots.heatmap_chart(plots.RunModel(FIXTURE, data), plots.TIME)
        annotations = [t.get_text() for t in chart.figure.axes[0].texts]
        self.assertEqual(sorted(t for t in annotations if t.endswith("x")), expected)
        texts = svg_texts(os.path.join(self.out, "heatmap-time.svg"))
        for text in expected:
            self.assertIn(text, texts)

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


class Summarize(unittest.TestCase):
    """summarize() against cases worked by hand from the binomial(n, 1/2) distribution."""

    def test_five_values_give_min_to_max_at_93_75_percent(self):
        # 1 - 2 P(X <= 1) = 1 - 12/32 < 0.95, so k stays 1; coverage 1 - 2 P(X <= 0) = 1 - 2/32.
        self.assertEqual(plots.summarize([5, 1, 4, 2, 3]), (5, 3, 1, 5, 0.9375))

    def test_six_values_give_x1_to_x6_at_96_875_percent(self):
        # 1 - 2 P(X <= 1) = 1 - 14/64 < 0.95; coverage 1 - 2/64. Even n: median of the middle two.
        self.assertEqual(plots.summarize([6, 2, 5, 1, 4, 3]), (6, 3.5, 1, 6, 0.96875))

    def test_ten_values_give_x2_to_x9(self):
        # P(X <= 1) = 11/1024: 1 - 22/1024 >= 0.95, so k = 2; P(X <= 2) = 56/1024: 1 - 112/1024 < 0.95.
        n, median, low, high, level = plots.summarize([10, 3, 7, 1, 9, 2, 8, 4, 6, 5])
        self.assertEqual((n, median, low, high), (10, 5.5, 2, 9))
        self.assertAlmostEqual(level, 1 - 22 / 1024, places=12)

    def test_twenty_values_give_x6_to_x15(self):
        # P(X <= 5) = 21700/2^20: 1 - 2 * that >= 0.95, so k reaches 6; P(X <= 6) = 60460/2^20 stops it.
        n, median, low, high, level = plots.summarize(list(range(20, 0, -1)))
        self.assertEqual((n, median, low, high), (20, 10.5, 6, 15))
        self.assertAlmostEqual(level, 1 - 2 * 21700 / 2 ** 20, places=12)

    def test_sixteen_values_give_x4_to_x13(self):
        # P(X <= 3) = 697/2^16: 1 - 2 * that = 0.9787, so k reaches 4; P(X <= 4) = 2517/2^16 gives
        # 0.9232, between 90% and 95%: a loop that stopped at 90% would go on to k = 5.
        n, median, low, high, level = plots.summarize([float(x) for x in range(1, 17)])
        self.assertEqual((n, median, low, high), (16, 8.5, 4, 13))
        self.assertAlmostEqual(level, 1 - 2 * 697 / 2 ** 16, places=12)

    def test_one_value_is_its_own_interval(self):
        n, median, low, high, _ = plots.summarize([42.0])
        self.assertEqual((n, median, low, high), (1, 42.0, 42.0, 42.0))

    def test_no_values(self):
        self.assertEqual(plots.summarize([]), (0, None, None, None, None))


class PlottedData(unittest.TestCase):
    """What the figures draw, read back from their artists and checked against the raw cells."""

    @classmethod
    def setUpClass(cls):
        plots._setup_matplotlib()
        cls.data = load_fixture()
        cls.model = plots.RunModel(FIXTURE, cls.data)

    def ok_metrics(self, allocator, workload, threads):
        return [c["metrics"] for c in self.data["cells"] if c["status"] == "ok" and c["allocator"] == allocator
                and c["workload"] == workload and c["threads"] == threads]

    def test_time_bars_run_from_one_to_the_median_ratio(self):
        chart = plots.time_chart(self.model, "frame")
        time_panel = chart.figure.axes[0]   # then the RSS panel, then the legend strip
        bars = [p for p in time_panel.patches]
        self.assertEqual({round(b.get_x(), 12) for b in bars}, {1.0})
        ends = sorted(round(b.get_x() + b.get_width(), 9) for b in bars)
        base = {t: statistics.median(m["ns_per_op"] for m in self.ok_metrics("system", "frame", t)) for t in (1, 2)}
        expected = sorted(round(statistics.median(m["ns_per_op"] for m in self.ok_metrics(a, "frame", t)) / base[t], 9)
                          for a in self.model.allocators for t in (1, 2))
        self.assertEqual(ends, expected)

    def test_median_rep_is_the_lower_middle_one_for_even_counts(self):
        self.assertEqual(plots._median_index([4.0, 1.0, 3.0, 2.0]), 3)   # 2.0, not 3.0
        self.assertEqual(plots._median_index([5.0, 1.0, 4.0, 2.0, 3.0]), 4)

    def test_rss_lines_are_the_median_rep_of_each_allocator(self):
        chart = plots.rss_chart(self.model, "churn")
        one_thread = chart.figure.axes[0]
        reps = self.ok_metrics("mimalloc", "churn", 1)
        middle = statistics.median(m["ns_per_op"] for m in reps)
        series = next(m["rss_series"] for m in reps if m["ns_per_op"] == middle)
        mib = [b / 1024 / 1024 for b in series["rss_bytes"]]
        drawn = [list(line.get_ydata()) for line in one_thread.lines]
        self.assertIn(mib, drawn)
        live = [b / 1024 / 1024 for b in next(m["rss_series"] for m in self.ok_metrics("system", "churn", 1)
                if m["ns_per_op"] == statistics.median(x["ns_per_op"] for x in self.ok_metrics("system", "churn", 1)))["live_bytes"]]
        black = [list(line.get_ydata()) for line in one_thread.lines if line.get_color() == "black"]
        self.assertEqual(black, [live])


class Labels(unittest.TestCase):
    def test_version_loses_its_git_suffix(self):
        self.assertEqual(plots.shorten_version("5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c"), "5.3.0")
        self.assertEqual(plots.shorten_version("5.2.1-7-gabcdef0"), "5.2.1")
        self.assertEqual(plots.shorten_version("glibc 2.36"), "glibc 2.36")
        self.assertEqual(plots.shorten_version("2.0.9"), "2.0.9")

    def test_trace_workloads_are_named_by_their_stem(self):
        self.assertEqual(plots.workload_short_name("trace:workloads/traces/sqlite-index.trace"), "sqlite-index")
        self.assertEqual(plots.workload_short_name("churn"), "churn")


class AbsentData(unittest.TestCase):
    """Chart kinds whose data is missing are not drawn, and the fallbacks say what they did."""

    def setUp(self):
        self.temp = tempfile.TemporaryDirectory(prefix="allocmeter-plots-")
        self.addCleanup(self.temp.cleanup)

    def test_no_latency_rss_or_second_thread_count_leaves_only_heatmaps_and_bars(self):
        data = load_fixture()
        data["cells"] = [c for c in data["cells"] if c["threads"] == 1]
        for c in data["cells"]:
            if c["metrics"]:
                c["metrics"]["latency_ns"] = None      # --latency off
                c["metrics"]["rss_series"] = None      # --sample-ms 0
        run = os.path.join(self.temp.name, "run")
        write_results(run, data)
        rc, stdout, stderr = run_script(run, "--formats", "png")   # a run folder, default DIR
        self.assertEqual(rc, 0, stderr)
        out = os.path.join(run, "charts")
        self.assertEqual(stdout, f"wrote 5 charts (png) to {out}\n")
        with open(os.path.join(out, "charts.json"), encoding="utf-8") as f:
            index = json.load(f)
        self.assertEqual([c["name"] for c in index["charts"]],
                         ["heatmap-time", "heatmap-rss", "time-frame", "time-churn", "time-sqlite-index"])
        for chart in index["charts"]:
            self.assertEqual(chart["files"], {"png": chart["name"] + ".png"})
        self.assertEqual(sorted(os.listdir(out)), sorted(["charts.json"] + [c["name"] + ".png" for c in index["charts"]]))

    def test_without_system_the_first_allocator_is_the_baseline_and_titles_say_so(self):
        data = load_fixture()
        data["cells"] = [c for c in data["cells"] if c["allocator"] != "system"]
        path = write_results(self.temp.name, data)
        model = plots.RunModel(path, data)
        self.assertEqual(model.baseline, "jemalloc")
        plots._setup_matplotlib()
        chart = plots.heatmap_chart(model, plots.TIME)
        self.assertEqual(chart.title, "Time per operation relative to jemalloc, as system was not run "
                                      "(median of 5 reps)")
        self.assertIn("System was not run, so jemalloc", chart.caption)
        bars = plots.time_chart(model, "frame")
        self.assertTrue(bars.title.startswith("frame: time and peak RSS relative to jemalloc, as system"))

    def test_scaling_leaves_out_trace_workloads(self):
        data = load_fixture()
        data["cells"] = [c for c in data["cells"] if c["workload"].startswith("trace:")]
        # The trace at two thread counts (which a real run cannot give) is still no scaling chart.
        data["cells"] += [dict(copy.deepcopy(c), threads=2) for c in data["cells"]]
        model = plots.RunModel(write_results(self.temp.name, data), data)
        plots._setup_matplotlib()
        self.assertIsNone(plots.scaling_chart(model))


class InputErrors(unittest.TestCase):
    """Exit 2 with a message naming the file, exit 3 without matplotlib."""

    def setUp(self):
        self.temp = tempfile.TemporaryDirectory(prefix="allocmeter-plots-")
        self.addCleanup(self.temp.cleanup)

    def write(self, name, text):
        path = os.path.join(self.temp.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def assert_input_error(self, path, words):
        rc, stdout, stderr = run_script(path)
        self.assertEqual(rc, 2, stderr)
        self.assertEqual(stdout, "")
        self.assertIn(path, stderr)
        self.assertIn(words, stderr)

    def test_missing_file(self):
        self.assert_input_error(os.path.join(self.temp.name, "nothing.json"), "no such file")

    def test_folder_without_results(self):
        self.assert_input_error(self.temp.name, "without results.json")

    def test_not_json(self):
        self.assert_input_error(self.write("broken.json", '{"cells": ['), "not JSON")

    def test_json_that_is_not_results(self):
        self.assert_input_error(self.write("other.json", '{"schema": "something-else", "rows": []}'),
                                "no 'cells' array")

    def test_no_ok_cells(self):
        cells = [{"allocator": "system", "workload": "frame", "threads": 1, "rep": 1, "status": "failed",
                  "reason": "crashed", "metrics": None}]
        self.assert_input_error(self.write("failed.json", json.dumps({"cells": cells})), "no ok cells")

    def test_no_matplotlib_exits_3_with_the_install_hint(self):
        # Hide matplotlib from this interpreter (None in sys.modules makes its import fail).
        code = (f"import sys; sys.modules['matplotlib'] = None; sys.path.insert(0, {PLOTS!r}); "
                f"import allocmeter_plots; sys.exit(allocmeter_plots.main([{FIXTURE!r}, '-o', {self.temp.name!r}]))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        self.assertEqual(done.returncode, 3, done.stderr)
        self.assertIn(f"this Python ({sys.executable}) has no matplotlib", done.stderr)
        self.assertIn("apt-get install python3-matplotlib", done.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.temp.name, "charts.json")))


if __name__ == "__main__":
    unittest.main()
