/* Interactive figures of the course book ("explorers" and animations).
 *
 * Every number drawn here was computed by the course's Python package when the chapter was executed
 * (reference_impl/explorers.py) and sits in the page as JSON inside <div class="course-explorer">. This script only
 * picks the precomputed result that matches the controls and hands it to plotly.js (served with the book, from
 * npm, like MathJax). One explorer is the exception: "momentum-live" runs heavy-ball momentum on a 2-D quadratic
 * in the page, over continuous step size and momentum (the update is torch.optim.SGD's; tests/test_browser.py
 * compares the page's paths with reference_impl.optim.SGD on a grid of values).
 *
 * Every control is a native element (range input, button) reachable with Tab and moved with the arrow keys; a
 * slider announces its value (aria-valuetext), categorical settings are buttons (aria-pressed).
 */
(function () {
  "use strict";

  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
  var CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"]};
  // The mode bar's icons in a colour that reads on the figure's white paper (plotly's default is 30 % opaque).
  function withBar(layout) {
    layout.modebar = {color: "#4a4a4a", activecolor: "#000", bgcolor: "rgba(255,255,255,0.85)"};
    return layout;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "boolean" || typeof v === "string") return String(v);
    if (v === 0) return "0";
    var a = Math.abs(v);
    return (a < 1e-2 || a >= 1e4) ? v.toExponential(2).replace("e", "e") : String(+v.toPrecision(3));
  }

  /* A labelled range input over the indices of `values`; onChange(index) on every move. */
  function slider(name, values, start, onChange) {
    var output = el("output", {"class": "course-explorer-value"});
    var input = el("input", {type: "range", min: "0", max: String(values.length - 1), step: "1",
                             value: String(start), "aria-label": name, "data-param": name});
    function show() {
      output.textContent = fmt(values[+input.value]);
      input.setAttribute("aria-valuetext", name + " " + output.textContent);
    }
    input.addEventListener("input", function () { show(); onChange(+input.value); });
    show();
    var label = el("label", {"class": "course-explorer-slider"}, [el("span", {text: name + " "}), input, output]);
    label.input = input;
    return label;
  }

  /* A group of buttons, one per option; the pressed one is the current value (aria-pressed). */
  function choice(name, options, current, onChange) {
    var group = el("div", {"class": "course-explorer-choice", role: "group", "aria-label": name,
                           "data-param": name});
    group.appendChild(el("span", {text: name + " "}));
    function press(value) {
      Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) {
        b.setAttribute("aria-pressed", String(b.getAttribute("data-value") === String(value)));
      });
    }
    options.forEach(function (o) {
      var b = el("button", {type: "button", "data-value": String(o), text: fmt(o)});
      b.addEventListener("click", function () { press(o); onChange(o); });
      group.appendChild(b);
    });
    press(current);
    group.choose = function (value) { press(value); };
    return group;
  }

  /* Level lines of a function sampled on a grid (c.z[j][i] at x = c.x[i], y = c.y[j]), drawn as one line trace:
   * marching squares over `levels` evenly spaced values strictly inside the range of z, each cell crossing a level
   * contributing one segment (two where a saddle crosses it), segments separated by nulls. plotly's contour trace
   * would do the same, but it lives only in its larger bundles (see package.json); a scatter trace is in the basic
   * one. Computed once per grid (cached on it), so that redraws pass the same arrays and plotly.react skips them. */
  function levelLines(c, levels) {
    if (c._lines) return c._lines;
    var z = c.z, lo = Infinity, hi = -Infinity, xs = [], ys = [];
    z.forEach(function (row) { row.forEach(function (v) { if (v < lo) lo = v; if (v > hi) hi = v; }); });
    function cross(level, x0, y0, v0, x1, y1, v1) {
      var t = (level - v0) / (v1 - v0);
      return [x0 + t * (x1 - x0), y0 + t * (y1 - y0)];
    }
    function segment(p, q) { xs.push(p[0], q[0], null); ys.push(p[1], q[1], null); }
    for (var k = 0; k < levels; k++) {
      var level = lo + (k + 0.5) * (hi - lo) / levels;
      for (var j = 0; j + 1 < z.length; j++) {
        for (var i = 0; i + 1 < z[j].length; i++) {
          // corners a (i, j), b (i+1, j), c (i+1, j+1), d (i, j+1); edges bottom, right, top, left
          var xa = c.x[i], xb = c.x[i + 1], ya = c.y[j], yd = c.y[j + 1];
          var va = z[j][i], vb = z[j][i + 1], vc = z[j + 1][i + 1], vd = z[j + 1][i];
          var edges = [[xa, ya, va, xb, ya, vb], [xb, ya, vb, xb, yd, vc], [xa, yd, vd, xb, yd, vc],
                       [xa, ya, va, xa, yd, vd]];
          var hits = [];
          edges.forEach(function (e, n) {
            if ((e[2] >= level) !== (e[5] >= level)) hits[n] = cross(level, e[0], e[1], e[2], e[3], e[4], e[5]);
          });
          var found = hits.filter(function (h) { return h; });
          if (found.length === 2) segment(found[0], found[1]);
          else if (found.length === 4) {  // a saddle: the centre decides which corners the lines cut off
            if (((va + vb + vc + vd) / 4 >= level) === (va >= level)) { segment(hits[0], hits[1]); segment(hits[2], hits[3]); }
            else { segment(hits[0], hits[3]); segment(hits[1], hits[2]); }
          }
        }
      }
    }
    c._lines = {x: xs, y: ys};
    return c._lines;
  }

  function contour(c, axis) {
    var lines = levelLines(c, 18);
    return {type: "scatter", mode: "lines", x: lines.x, y: lines.y, xaxis: "x" + axis, yaxis: "y" + axis,
            line: {color: "rgba(80, 80, 80, 0.45)", width: 1}, hoverinfo: "skip", showlegend: false,
            connectgaps: false, meta: "level-lines"};
  }

  /* matplotlib's viridis at nine evenly spaced points, linearly interpolated: the colours of the lr x beta maps
   * (the colour bar uses plotly's "Viridis", the same map). */
  var VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"];
  var MAP_MIN = -12, MAP_MAX = 2;
  function viridis(t) {
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    var i = Math.min(Math.floor(t), VIRIDIS.length - 2), f = t - i;
    function rgb(h) { return [1, 3, 5].map(function (k) { return parseInt(h.slice(k, k + 2), 16); }); }
    var a = rgb(VIRIDIS[i]), b = rgb(VIRIDIS[i + 1]);
    return "rgb(" + a.map(function (v, n) { return Math.round(v + f * (b[n] - v)); }).join(",") + ")";
  }

  function axisName(n) { return n === 1 ? "" : String(n); }

  /* ---------------------------------------------------------------- trajectory explorer */
  function trajectory(root, data) {
    var probs = Object.keys(data.problems), opts = Object.keys(data.optimizers);
    var state = {opt: opts.indexOf("heavy ball") >= 0 ? "heavy ball" : opts[0], lr: 4, beta: 2};
    var plot = el("div", {"class": "course-explorer-plot"});
    var controls = el("div", {"class": "course-explorer-controls"});
    var lrSlider, betaSlider;
    controls.appendChild(choice("optimizer", opts, state.opt, function (v) { state.opt = v; rebuild(); }));
    var sliders = el("span");
    controls.appendChild(sliders);
    root.appendChild(controls);
    root.appendChild(plot);

    function rebuild() {
      var o = data.optimizers[state.opt];
      sliders.innerHTML = "";
      state.lr = Math.min(state.lr, o.lrs[probs[0]].length - 1);
      lrSlider = slider("lr index", o.lrs[probs[0]].map(function (_, i) { return i; }), state.lr,
                        function (i) { state.lr = i; draw(); });
      lrSlider.querySelector("span").textContent = "learning rate (step on the grid) ";
      lrSlider.input.setAttribute("data-param", "lr");
      sliders.appendChild(lrSlider);
      if (o.beta_name) {
        state.beta = Math.min(state.beta, o.betas.length - 1);
        betaSlider = slider(o.beta_name, o.betas, state.beta, function (i) { state.beta = i; draw(); });
        betaSlider.input.setAttribute("data-param", "beta");
        sliders.appendChild(betaSlider);
      }
      draw();
    }

    function draw() {
      var o = data.optimizers[state.opt], traces = [], annotations = [], shapes = [];
      var b = o.beta_name ? state.beta : 0;
      lrSlider.querySelector("output").textContent =
        probs.map(function (p) { return fmt(o.lrs[p][state.lr]) + " (" + p + ")"; }).join(", ");
      probs.forEach(function (p, k) {
        var pa = axisName(k + 1), ma = axisName(k + 3), spec = data.problems[p];
        var run = o.runs[p][state.lr][b];
        traces.push(contour(data.contours[p], pa));
        traces.push({type: "scatter", mode: "lines+markers", x: run.x, y: run.y, xaxis: "x" + pa, yaxis: "y" + pa,
                     name: state.opt + " on " + p, line: {color: COLORS[k === 0 ? 0 : 1], width: 2},
                     marker: {size: 3}, meta: "path-" + p});
        traces.push({type: "scatter", mode: "markers", x: [spec.minimum[0]], y: [spec.minimum[1]],
                     xaxis: "x" + pa, yaxis: "y" + pa, marker: {symbol: "star", size: 12, color: "#333"},
                     hoverinfo: "skip", showlegend: false});
        // lr x beta map: log10 of the final loss, one coloured cell per run (rectangles drawn under the traces);
        // diverged cells stay blank and get a cross. An invisible marker per cell carries the hover text and the
        // colour bar.
        var cx = [], cy = [], cz = [], dx = [], dy = [];
        o.runs[p].forEach(function (row, i) {
          o.betas.forEach(function (_, j) {
            var r = row[j];
            if (r.diverged) { dx.push(i); dy.push(j); return; }
            var v = Math.log10(Math.max(r.loss, 1e-12));
            cx.push(i); cy.push(j); cz.push(v);
            shapes.push({type: "rect", xref: "x" + ma, yref: "y" + ma, x0: i - 0.5, x1: i + 0.5, y0: j - 0.5,
                         y1: j + 0.5, fillcolor: viridis((v - MAP_MIN) / (MAP_MAX - MAP_MIN)), line: {width: 0},
                         layer: "below"});
          });
        });
        traces.push({type: "scatter", mode: "markers", x: cx, y: cy, xaxis: "x" + ma, yaxis: "y" + ma,
                     marker: {color: cz, colorscale: "Viridis", cmin: MAP_MIN, cmax: MAP_MAX, opacity: 0, size: 10,
                              showscale: k === 1, colorbar: {title: {text: "log10 loss"}, len: 0.3, y: 0.15,
                                                              thickness: 12}},
                     showlegend: false, hovertemplate: "log10 final loss %{marker.color:.2f}<extra></extra>"});
        traces.push({type: "scatter", mode: "markers", x: dx, y: dy, xaxis: "x" + ma, yaxis: "y" + ma,
                     marker: {symbol: "x", size: 9, color: "#d62728"}, name: "diverged", showlegend: k === 0,
                     hoverinfo: "skip"});
        traces.push({type: "scatter", mode: "markers", x: [state.lr], y: [b], xaxis: "x" + ma, yaxis: "y" + ma,
                     marker: {symbol: "square-open", size: 18, color: "#fff", line: {width: 3}}, showlegend: false,
                     hoverinfo: "skip"});
        var msg = run.diverged ? "diverged after " + (run.x.length - 1) + " steps"
                               : "loss after " + spec.steps + " steps: " + fmt(run.loss);
        annotations.push({text: spec.title + "<br>" + msg, xref: "x" + pa + " domain", yref: "y" + pa + " domain",
                          x: 0.5, y: 1.02, yanchor: "bottom", showarrow: false, font: {size: 12}});
      });
      // Side by side on a wide screen; one above the other on a narrow one (titles and ticks never overlap).
      var narrow = plot.clientWidth < 640;
      var layout = {height: narrow ? 1150 : 760, margin: {t: 60, l: 55, r: 20, b: 60}, showlegend: false,
                    annotations: annotations, shapes: shapes, font: {size: 12}};
      var rows = narrow ? [[0.72, 0.95, 0.52, 0.62], [0.2, 0.43, 0, 0.1]] : null;
      probs.forEach(function (p, k) {
        var pa = axisName(k + 1), ma = axisName(k + 3), spec = data.problems[p];
        var x0 = narrow ? 0 : (k === 0 ? 0 : 0.57), x1 = narrow ? 1 : (k === 0 ? 0.43 : 1);
        var pathRows = narrow ? [rows[k][0], rows[k][1]] : [0.5, 0.9];
        var mapRows = narrow ? [rows[k][2], rows[k][3]] : [0, 0.3];
        layout["xaxis" + pa] = {domain: [x0, x1], range: spec.view[0], anchor: "y" + pa};
        layout["yaxis" + pa] = {domain: pathRows, range: spec.view[1], anchor: "x" + pa};
        // every other learning rate labelled: the labels never touch at any width
        layout["xaxis" + ma] = {domain: [x0, x1], anchor: "y" + ma, title: {text: "learning rate", standoff: 4},
                                range: [-0.5, o.lrs[p].length - 0.5], showgrid: false, zeroline: false,
                                tickangle: -45, tickfont: {size: 11},
                                tickvals: o.lrs[p].map(function (_, i) { return i; }).filter(function (i) {
                                  return i % 2 === 0; }),
                                ticktext: o.lrs[p].map(fmt).filter(function (_, i) { return i % 2 === 0; })};
        layout["yaxis" + ma] = {domain: mapRows, anchor: "x" + ma, title: {text: o.beta_name || ""},
                                range: [-0.5, o.betas.length - 0.5], showgrid: false, zeroline: false,
                                tickvals: o.betas.map(function (_, j) { return j; }), ticktext: o.betas.map(fmt)};
      });
      root.setAttribute("data-state", JSON.stringify({optimizer: state.opt, lr: state.lr, beta: b}));
      Plotly.react(plot, traces, withBar(layout), CONFIG);
    }
    rebuild();
  }

  /* ---------------------------------------------------------------- schedule explorer */
  function schedules(root, data) {
    var names = Object.keys(data.schedules);
    var sides = [{name: "warmup_cosine", idx: {}}, {name: "wsd", idx: {}}];
    var plot = el("div", {"class": "course-explorer-plot"});
    var panels = sides.map(function (side, s) {
      var panel = el("div", {"class": "course-explorer-controls", "data-side": String(s)});
      panel.appendChild(choice("schedule " + "AB"[s], names, side.name,
                               function (v) { side.name = v; side.idx = {}; build(s); draw(); }));
      panel.appendChild(el("span", {"class": "course-explorer-params"}));
      root.appendChild(panel);
      return panel;
    });
    root.appendChild(plot);

    function build(s) {
      var side = sides[s], holder = panels[s].querySelector(".course-explorer-params");
      var params = data.schedules[side.name].params;
      holder.innerHTML = "";
      Object.keys(params).forEach(function (p) {
        if (side.idx[p] === undefined) side.idx[p] = Math.floor((params[p].length - 1) / 2);
        var categorical = params[p].some(function (v) { return typeof v === "string" || typeof v === "boolean"; });
        if (categorical) {
          holder.appendChild(choice(p, params[p], params[p][side.idx[p]], function (v) {
            side.idx[p] = params[p].indexOf(v); draw(); }));
        } else {
          holder.appendChild(slider(p, params[p], side.idx[p], function (i) { side.idx[p] = i; draw(); }));
        }
      });
    }

    function key(side) {
      return Object.keys(data.schedules[side.name].params).map(function (p) { return side.idx[p]; }).join(",");
    }

    function draw() {
      var traces = sides.map(function (side, s) {
        var params = data.schedules[side.name].params;
        var label = side.name + "(" + Object.keys(params).map(function (p) {
          return p + "=" + fmt(params[p][side.idx[p]]);
        }).join(", ") + ")";
        return {type: "scatter", mode: "lines", x: data.steps, y: data.schedules[side.name].curves[key(side)],
                name: "AB"[s] + ": " + label, line: {color: COLORS[s], width: 2.5, dash: s ? "dash" : "solid"}};
      });
      // ReduceLROnPlateau reacts to a validation loss: draw that loss (right axis) whenever a side shows it.
      var plateau = data.plateau_metric && sides.some(function (side) { return side.name === "ReduceLROnPlateau"; });
      if (plateau) {
        traces.push({type: "scatter", mode: "lines", x: data.steps, y: data.plateau_metric, yaxis: "y2",
                     name: "validation loss fed to ReduceLROnPlateau (right axis)", meta: "plateau-metric",
                     line: {color: "#555", width: 1.5, dash: "dot"}});
      }
      root.setAttribute("data-state", JSON.stringify(sides.map(function (s) { return [s.name, key(s)]; })));
      var layout = {height: 460, margin: {t: 30, l: 60, r: plateau ? 60 : 20, b: 50},
                    xaxis: {title: {text: "step"}}, yaxis: {title: {text: "learning rate / peak"}, rangemode: "tozero"},
                    legend: {orientation: "h", y: -0.2}};
      if (plateau) layout.yaxis2 = {overlaying: "y", side: "right", title: {text: "validation loss"},
                                    rangemode: "tozero", showgrid: false};
      Plotly.react(plot, traces, withBar(layout), CONFIG);
    }
    build(0); build(1); draw();
  }

  /* ---------------------------------------------------------------- Adam's eps */
  function adamEps(root, data) {
    var state = {eps: 0};
    var plot = el("div", {"class": "course-explorer-plot"});
    var controls = el("div", {"class": "course-explorer-controls"});
    var s = slider("eps", data.eps, state.eps, function (i) { state.eps = i; draw(); });
    s.input.setAttribute("data-param", "eps");
    controls.appendChild(s);
    root.appendChild(controls);
    root.appendChild(plot);

    function draw() {
      var eps = data.eps[state.eps], run = data.paths[state.eps];
      var traces = [
        {type: "scatter", mode: "lines", x: data.grads, y: data.grads.map(function () { return 1; }),
         name: "sign-like: |step| = lr", line: {dash: "dot", color: "#777"}},
        {type: "scatter", mode: "lines", x: data.grads, y: data.grads.map(function (g) { return g / eps; }),
         name: "SGD-like: |step| = lr·g/eps", line: {dash: "dash", color: "#aaa"}},
        {type: "scatter", mode: "lines+markers", x: data.grads, y: data.first_step[state.eps],
         name: "Adam's first step (lr = 1)", line: {color: COLORS[0], width: 3}, meta: "first-step"},
        contour(data.contour, "2"),
        {type: "scatter", mode: "lines+markers", x: run.x, y: run.y, xaxis: "x2", yaxis: "y2", marker: {size: 3},
         name: "Adam path, lr " + fmt(data.lr) + (data.problem ? " (" + data.problem + ")" : ""),
         line: {color: COLORS[1]}, meta: "path"}
      ];
      var view = data.view;
      root.setAttribute("data-state", JSON.stringify({eps: eps}));
      Plotly.react(plot, traces, withBar({
        height: 440, margin: {t: 40, l: 60, r: 20, b: 50}, legend: {orientation: "h", y: -0.18},
        xaxis: {type: "log", domain: [0, 0.45], title: {text: "gradient coordinate g"}},
        yaxis: {type: "log", range: [-7, 1], title: {text: "|step| / lr"}},
        xaxis2: {domain: [0.55, 1], range: view[0], anchor: "y2"}, yaxis2: {range: view[1], anchor: "x2"},
        annotations: [{text: "eps = " + fmt(eps) + (run.diverged ? " — diverged" : " — loss after " +
                       (run.x.length - 1) + " steps: " + fmt(run.loss)), xref: "paper", yref: "paper", x: 0.5,
                       y: 1.08, showarrow: false}]}), CONFIG);
    }
    draw();
  }

  /* ---------------------------------------------------------------- races (animations) */
  function race(root, data) {
    var plot = el("div", {"class": "course-explorer-plot"});
    root.appendChild(plot);
    var names = Object.keys(data.paths), steps = data.steps;
    var every = Math.max(1, Math.ceil(steps / 60)), marks = [];
    for (var t = 0; t <= steps; t += every) marks.push(t);
    if (marks[marks.length - 1] !== steps) marks.push(steps);

    function upto(arr, t) { return arr.slice(0, Math.min(t, arr.length - 1) + 1); }
    function framedata(t) {
      var out = [];
      names.forEach(function (n) {
        var p = data.paths[n];
        out.push({x: upto(p.x, t), y: upto(p.y, t)});
        out.push({x: upto(p.x.map(function (_, i) { return i; }), t), y: upto(p.loss, t)});
      });
      return out;
    }
    var traces = [contour(data.contour, "")];
    var first = framedata(0);
    names.forEach(function (n, k) {
      traces.push({type: "scatter", mode: "lines+markers", x: first[2 * k].x, y: first[2 * k].y, name: n,
                   line: {color: COLORS[k], width: 2}, marker: {size: 4}, meta: "path"});
      traces.push({type: "scatter", mode: "lines", x: first[2 * k + 1].x, y: first[2 * k + 1].y, name: n,
                   xaxis: "x2", yaxis: "y2", line: {color: COLORS[k], width: 2}, showlegend: false, meta: "loss"});
    });
    var moving = traces.map(function (_, i) { return i; }).slice(1);
    var frames = marks.map(function (t) { return {name: String(t), data: framedata(t), traces: moving}; });
    var positive = [];
    names.forEach(function (n) { data.paths[n].loss.forEach(function (v) { if (v > 0) positive.push(v); }); });
    var hi = Math.log10(Math.max.apply(null, positive));
    var lo = Math.max(Math.log10(Math.min.apply(null, positive)), hi - 10);  // at most ten decades
    var anim = {frame: {duration: 80, redraw: false}, transition: {duration: 0}, mode: "immediate"};
    var layout = {
      height: 470, margin: {t: 30, l: 60, r: 20, b: 40}, legend: {orientation: "h", y: 1.08},
      xaxis: {domain: [0, 0.55], range: data.view[0]}, yaxis: {range: data.view[1]},
      xaxis2: {domain: [0.65, 1], range: [0, steps], anchor: "y2", title: {text: "step"}},
      yaxis2: {type: "log", range: [lo - 0.3, hi + 0.3], anchor: "x2", title: {text: "loss"}}
    };
    // The step scrubber is a page range input (plotly's own slider cannot be reached from the keyboard); it follows
    // the animation while it plays. Play and pause are page buttons too: an animation interrupted by "pause"
    // rejects its promise, which is expected and caught here instead of surfacing as an uncaught error.
    var scrub = slider("step", marks, 0, function (i) {
      Plotly.animate(plot, [String(marks[i])], anim).catch(function () {});
    });
    scrub.input.setAttribute("data-param", "step");
    var play = el("button", {type: "button", "data-action": "play", text: "▶ play"});
    var pause = el("button", {type: "button", "data-action": "pause", text: "❚❚ pause"});
    play.addEventListener("click", function () {
      Plotly.animate(plot, null, Object.assign({fromcurrent: true}, anim)).catch(function () {});
    });
    pause.addEventListener("click", function () {
      Plotly.animate(plot, [null], {mode: "immediate", frame: {duration: 0, redraw: false},
                                    transition: {duration: 0}}).catch(function () {});
    });
    root.insertBefore(el("div", {"class": "course-explorer-controls"}, [play, pause, scrub]), plot);
    Plotly.newPlot(plot, {data: traces, layout: withBar(layout), frames: frames, config: CONFIG}).then(function () {
      plot.on("plotly_animatingframe", function (event) {
        var i = marks.indexOf(+event.name);
        if (i >= 0) {
          scrub.input.value = String(i);
          scrub.input.dispatchEvent(new Event("change"));
          scrub.querySelector("output").textContent = String(marks[i]);
          scrub.input.setAttribute("aria-valuetext", "step " + marks[i]);
          root.setAttribute("data-frame", String(i));
        }
      });
    });
  }

  /* ---------------------------------------------------------------- momentum, computed live in the page */
  /* Heavy-ball momentum as torch.optim.SGD(lr, momentum) applies it (dampening 0, not Nesterov), on
     f(w) = 1/2 (w - w*)^T H (w - w*):  g = H (w - w*);  b = g on the first step, b = momentum b + g after;
     w = w - lr b. A run stops after the first point with a coordinate beyond `escape` or not finite, as
     reference_impl.explorers.record_path does. Returns {x, y, loss}. */
  function heavyBall(H, wstar, start, lr, momentum, steps, escape) {
    var w = [start[0], start[1]], b = null, xs = [w[0]], ys = [w[1]], losses = [];
    function loss(v) {
      var d0 = v[0] - wstar[0], d1 = v[1] - wstar[1];
      return 0.5 * (d0 * (H[0][0] * d0 + H[0][1] * d1) + d1 * (H[1][0] * d0 + H[1][1] * d1));
    }
    losses.push(loss(w));
    for (var t = 0; t < steps; t++) {
      var d0 = w[0] - wstar[0], d1 = w[1] - wstar[1];
      var g = [H[0][0] * d0 + H[0][1] * d1, H[1][0] * d0 + H[1][1] * d1];
      b = b === null ? g : [momentum * b[0] + g[0], momentum * b[1] + g[1]];
      w = [w[0] - lr * b[0], w[1] - lr * b[1]];
      if (!isFinite(w[0]) || !isFinite(w[1])) break;
      xs.push(w[0]); ys.push(w[1]); losses.push(loss(w));
      if (Math.max(Math.abs(w[0]), Math.abs(w[1])) > escape) break;
    }
    return {x: xs, y: ys, loss: losses};
  }

  function momentumLive(root, data) {
    var state = {lr: data.lr, momentum: data.momentum};
    var plot = el("div", {"class": "course-explorer-plot"});
    var controls = el("div", {"class": "course-explorer-controls"});
    // continuous controls: log10 of the step size, and the momentum itself
    function live(name, param, min, max, value, show, onChange) {
      var output = el("output", {"class": "course-explorer-value"});
      var input = el("input", {type: "range", min: String(min), max: String(max), step: "any", value: String(value),
                               "aria-label": name, "data-param": param});
      function update() {
        var v = onChange(+input.value);
        output.textContent = show(v);
        input.setAttribute("aria-valuetext", name + " " + show(v));
      }
      input.addEventListener("input", function () { update(); draw(); });
      var label = el("label", {"class": "course-explorer-slider"}, [el("span", {text: name + " "}), input, output]);
      label.update = update;
      return label;
    }
    var lrControl = live("step size η", "lr", Math.log10(data.lr_range[0]), Math.log10(data.lr_range[1]),
                         Math.log10(state.lr), function (v) { return String(+v.toPrecision(3)); },
                         function (v) { state.lr = Math.pow(10, v); return state.lr; });
    var betaControl = live("momentum β", "momentum", data.momentum_range[0], data.momentum_range[1], state.momentum,
                           function (v) { return v.toFixed(3); },
                           function (v) { state.momentum = v; return v; });
    controls.appendChild(lrControl);
    controls.appendChild(betaControl);
    root.appendChild(controls);
    root.appendChild(plot);
    var L = Math.max.apply(null, data.curvatures), mu = Math.min.apply(null, data.curvatures);

    function draw() {
      var run = heavyBall(data.hessian, data.minimum, data.start, state.lr, state.momentum, data.steps, data.escape);
      var diverged = run.x.length < data.steps + 1 ||
                     Math.max(Math.abs(run.x[run.x.length - 1]), Math.abs(run.y[run.y.length - 1])) > data.escape;
      // the slowest of the two eigen-directions sets the rate: max |root| of z^2 - (1 + β - η λ) z + β = 0
      var rate = 0;
      [mu, L].forEach(function (lam) {
        var a = 1 + state.momentum - state.lr * lam, disc = a * a - 4 * state.momentum;
        var r = disc >= 0 ? Math.max(Math.abs((a + Math.sqrt(disc)) / 2), Math.abs((a - Math.sqrt(disc)) / 2))
                          : Math.sqrt(state.momentum);
        rate = Math.max(rate, r);
      });
      var positive = run.loss.map(function (v) { return Math.max(v, 1e-300); });
      var traces = [
        contour(data.contour, ""),
        {type: "scatter", mode: "lines+markers", x: run.x, y: run.y, name: "heavy ball", meta: "path",
         line: {color: COLORS[0], width: 2}, marker: {size: 3}},
        {type: "scatter", mode: "markers", x: [data.minimum[0]], y: [data.minimum[1]], hoverinfo: "skip",
         marker: {symbol: "star", size: 12, color: "#333"}, showlegend: false},
        {type: "scatter", mode: "lines", x: positive.map(function (_, i) { return i; }), y: positive, xaxis: "x2",
         yaxis: "y2", name: "loss", meta: "loss", line: {color: COLORS[1], width: 2}}
      ];
      var narrow = plot.clientWidth < 640;
      var title = (diverged ? "diverged after " + (run.x.length - 1) + " steps" :
                   "loss after " + data.steps + " steps: " + fmt(run.loss[run.loss.length - 1])) +
                  " · rate per step " + fmt(rate) + (rate >= 1 ? " (≥ 1: no convergence)" : "");
      root.setAttribute("data-state", JSON.stringify({lr: state.lr, momentum: state.momentum}));
      Plotly.react(plot, traces, withBar({
        height: narrow ? 760 : 440, margin: {t: 50, l: 60, r: 20, b: 50}, showlegend: false, font: {size: 12},
        annotations: [{text: title, xref: "paper", yref: "paper", x: 0.5, y: 1.0, yanchor: "bottom",
                       showarrow: false}],
        xaxis: {domain: narrow ? [0, 1] : [0, 0.5], range: data.view[0], anchor: "y", title: {text: "w₁"}},
        yaxis: {domain: narrow ? [0.55, 0.95] : [0, 0.92], range: data.view[1], anchor: "x", title: {text: "w₂"}},
        xaxis2: {domain: narrow ? [0, 1] : [0.62, 1], range: [0, data.steps], anchor: "y2", title: {text: "step"}},
        yaxis2: {domain: narrow ? [0, 0.38] : [0, 0.92], type: "log", anchor: "x2", title: {text: "loss"},
                 exponentformat: "power"}
      }), CONFIG);
    }
    lrControl.update();
    betaControl.update();
    draw();
  }

  var RENDERERS = {"trajectory": trajectory, "schedules": schedules, "adam-eps": adamEps, "race": race,
                   "momentum-live": momentumLive};

  // Colours come from the theme's variables, so controls read in light and dark mode (WCAG AA, 4.5:1, tested).
  var STYLE = ".course-explorer-controls{display:flex;flex-wrap:wrap;align-items:center;gap:.3em 1.2em;" +
    "margin:.5em 0;font-size:.9em;color:var(--pst-color-text-base,#222)}" +
    ".course-explorer-controls label{display:inline-flex;align-items:center;gap:.4em}" +
    ".course-explorer-choice{display:inline-flex;flex-wrap:wrap;align-items:center;gap:.3em}" +
    ".course-explorer button{padding:.15em .7em;border:1px solid var(--pst-color-border,#999);border-radius:4px;" +
    "background:var(--pst-color-surface,#f3f4f5);color:var(--pst-color-text-base,#222);font:inherit;cursor:pointer}" +
    ".course-explorer button[aria-pressed=true]{background:var(--pst-color-text-base,#222);" +
    "color:var(--pst-color-background,#fff);border-color:var(--pst-color-text-base,#222)}" +
    ".course-explorer button:focus-visible,.course-explorer input:focus-visible{outline:2px solid " +
    "var(--pst-color-accent,#a1005b);outline-offset:2px}" +
    ".course-explorer input[type=range]{accent-color:var(--pst-color-primary,#0a7d91);max-width:100%}" +
    ".course-explorer-value{min-width:4em;font-variant-numeric:tabular-nums}" +
    ".course-explorer{margin:1em 0;padding:.5em;border:1px solid var(--pst-color-border,#ddd);border-radius:6px;" +
    "max-width:100%;overflow-x:auto;background:var(--pst-color-background,#fff);color:var(--pst-color-text-base,#222)}" +
    // The figure itself keeps plotly's white paper in both themes (like the book's matplotlib figures); its mode bar
    // buttons carry the colour their icons are drawn in (withBar).
    ".course-explorer .js-plotly-plot{background:#fff}" +
    ".course-explorer .js-plotly-plot .plotly .modebar-btn{color:#4a4a4a}";

  /* A path packed by reference_impl.explorers.pack_path ({"scale": s, "delta": [n0, n1 - n0, ...]}) back to its
     coordinates n_i / s (JSON.parse calls this on every value, innermost first). */
  function unpack(key, value) {
    if (value && typeof value === "object" && !Array.isArray(value) && Array.isArray(value.delta) &&
        typeof value.scale === "number" && Object.keys(value).length === 2) {
      var total = 0;
      return value.delta.map(function (step) { total += step; return total / value.scale; });
    }
    return value;
  }

  function init() {
    if (!document.getElementById("course-explorer-style")) {
      document.head.appendChild(el("style", {id: "course-explorer-style", text: STYLE}));
    }
    var roots = document.querySelectorAll("div.course-explorer");
    Array.prototype.forEach.call(roots, function (root) {
      var holder = root.querySelector("script.course-explorer-data");
      var render = RENDERERS[root.getAttribute("data-kind")];
      if (!holder || !render || root.getAttribute("data-ready")) return;
      var fallback = root.querySelector(".course-explorer-fallback");
      if (fallback) fallback.remove();
      render(root, JSON.parse(holder.textContent, unpack));
      root.setAttribute("data-ready", "true");
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
