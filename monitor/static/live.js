// Live updates of the monitor's pages. A page that changes says where its
// events are (data-events on the element #live); when an event arrives,
// the page's live region is fetched again (the same URL with partial=1)
// and swapped in. Without JavaScript the pages work; they just do not
// update by themselves.
(function () {
  'use strict';
  var live = document.getElementById('live');
  var status = document.getElementById('live-status');
  if (!live || !window.EventSource || !window.fetch || !window.URL) {
    return;
  }
  var events = live.getAttribute('data-events');
  if (!events) {
    return;
  }

  function show(text, on) {
    if (status) {
      status.textContent = text;
      status.className = 'label live-status ' + (on ? 'on' : 'off');
    }
  }

  // One reload at a time: events that come during one make one more
  // after it.
  var busy = false;
  var again = false;
  function reload() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    var url = new URL(window.location.href);
    url.searchParams.set('partial', '1');
    fetch(url.toString(), { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
      .then(function (resp) {
        if (!resp.ok) {
          throw new Error('HTTP ' + resp.status);
        }
        return resp.text();
      })
      .then(function (html) {
        live.innerHTML = html; // the server's own escaped HTML
        reloadIfAsked();
      })
      .catch(function () {
        show('update failed', false);
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          reload();
        }
      });
  }

  // A region that holds [data-reload-after] (milliseconds) asks for
  // another reload then: it shows something being read again, such as
  // counts.
  var asked = null;
  function reloadIfAsked() {
    var el = live.querySelector('[data-reload-after]');
    if (!el || asked !== null) {
      return;
    }
    var ms = parseInt(el.getAttribute('data-reload-after'), 10);
    asked = window.setTimeout(function () {
      asked = null;
      reload();
    }, ms > 0 ? ms : 2000);
  }
  reloadIfAsked();

  var source = new EventSource(new URL(events, document.baseURI).toString());
  source.addEventListener('open', function () { show('live', true); });
  source.addEventListener('error', function () { show('reconnecting…', false); });
  source.addEventListener('change', reload);
  source.addEventListener('tick', reload);
  source.addEventListener('failed', function () { show('live updates failed', false); });
  window.addEventListener('pagehide', function () { source.close(); });
})();
