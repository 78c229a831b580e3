// Typesets the math of one built page at build time, with the MathJax the book installs (npm `mathjax`, its es5
// components, the same TeX packages and CHTML output the pages would load), so that no page has to load MathJax's
// ~760 kB of script to show its equations. Called by `_ext/course_book.py` once per page that still has TeX.
//
//   node typeset_math.js <mathjax es5 folder> <font URL relative to the page>   < items.json   > result.json
//
// items.json: [{"tex": "...", "display": true|false}, ...]
// result.json: {"html": ["<mjx-container ...>", ...], "css": "<the CHTML stylesheet for the page's characters>"}
// A TeX error stops with exit status 1 and names the expression (MathJax would show it in red on the page).
"use strict";
const fs = require("fs");

const [root, fontURL] = process.argv.slice(2);
const items = JSON.parse(fs.readFileSync(0, "utf8"));

global.MathJax = {
  loader: {
    paths: {mathjax: root},
    load: ["adaptors/liteDOM", "input/tex-base", "[tex]/ams", "[tex]/newcommand", "output/chtml",
           "a11y/assistive-mml"],
    require: require,
  },
  tex: {
    packages: {"[+]": ["ams", "newcommand"]},
    formatError: (jax, err) => { throw err; },
  },
  // no font measurement outside a browser: the page's font size is the math's size, as in print
  chtml: {fontURL: fontURL, matchFontHeight: false, scale: 1},
  startup: {typeset: false},
};
require(root + "/startup.js");

MathJax.startup.promise.then(() => {
  const adaptor = MathJax.startup.adaptor;
  const html = [];
  for (const item of items) {
    try {
      html.push(adaptor.outerHTML(MathJax.tex2chtml(item.tex, {display: item.display})));
    } catch (err) {
      process.stderr.write(`TeX error in ${JSON.stringify(item.tex)}: ${err.message}\n`);
      process.exit(1);
    }
  }
  const css = adaptor.textContent(MathJax.chtmlStylesheet());
  process.stdout.write(JSON.stringify({html: html, css: css}));
}).catch((err) => {
  process.stderr.write(`MathJax failed to start: ${err.stack || err}\n`);
  process.exit(1);
});
