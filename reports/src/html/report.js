// report.html: highlight an anomaly's ops on the timeline, zoom, copy the repro command.
// Plain ES5 without dependencies; `data-ready` and `data-script-errors` on <html> let a
// headless browser test see that the script ran cleanly.
(function () {
  'use strict';
  var root = document.documentElement;
  var errors = [];
  window.addEventListener('error', function (event) {
    errors.push(String(event.message));
    root.setAttribute('data-script-errors', errors.join(' | '));
  });
  var svg = document.getElementById('timeline');
  var lit = [];

  function each(selector, f) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), f);
  }

  function clear() {
    lit.forEach(function (el) { el.classList.remove('hl'); });
    lit = [];
    if (svg) { svg.classList.remove('dim'); }
    each('.anomaly.active', function (card) { card.classList.remove('active'); });
  }

  function light(ids, scroll) {
    ids.forEach(function (id) {
      var el = document.getElementById(id);
      if (el && el.tagName.toLowerCase() === 'rect') { el.classList.add('hl'); lit.push(el); }
    });
    if (svg && lit.length) {
      svg.classList.add('dim');
      if (scroll) { lit[0].scrollIntoView({ block: 'center', inline: 'center', behavior: 'smooth' }); }
    }
  }

  function highlight(card, scroll) {
    clear();
    if (!card) { return; }
    card.classList.add('active');
    light((card.getAttribute('data-ops') || '').split(' ').filter(Boolean), scroll);
  }

  each('.anomaly button.show', function (button) {
    button.addEventListener('click', function () {
      var card = button.parentNode;
      while (card && !card.classList.contains('anomaly')) { card = card.parentNode; }
      highlight(card, true);
    });
  });

  each('.anomaly a.op', function (link) {
    link.addEventListener('click', function (event) {
      event.preventDefault();
      clear();
      light([link.getAttribute('data-op')], true);
    });
  });

  each('a.mark', function (mark) {
    mark.addEventListener('click', function (event) {
      event.preventDefault();
      var card = document.getElementById('anomaly-' + mark.getAttribute('data-anomaly'));
      highlight(card, false);
      if (card) { card.scrollIntoView({ block: 'start', behavior: 'smooth' }); }
    });
  });

  each('button.zoom', function (button) {
    button.addEventListener('click', function () {
      if (!svg) { return; }
      var factor = Number(button.getAttribute('data-zoom')) || 1;
      svg.setAttribute('width', Number(svg.getAttribute('data-width')) * factor);
      svg.setAttribute('height', Number(svg.getAttribute('data-height')) * factor);
      if (lit.length) { lit[0].scrollIntoView({ block: 'center', inline: 'center' }); }
    });
  });

  var copy = document.getElementById('copy');
  var repro = document.getElementById('repro');
  if (copy && repro) {
    copy.addEventListener('click', function () {
      var text = repro.textContent;
      var done = function () { copy.textContent = 'Copied'; };
      var select = function () {
        var range = document.createRange();
        range.selectNodeContents(repro);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        copy.textContent = 'Selected: press Ctrl+C';
      };
      try {
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, select);
        } else { select(); }
      } catch (e) { select(); }
    });
  }

  var match = /^#anomaly-(\d+)$/.exec(window.location.hash);
  if (match) { highlight(document.getElementById('anomaly-' + match[1]), false); }
  root.setAttribute('data-ready', 'yes');
}());
