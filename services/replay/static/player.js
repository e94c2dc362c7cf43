// The player page: loads the recording and the session's analytics events from the page-scoped
// JSON routes (same-origin, with the session cookie), plays the recording in rrweb-player, and
// lists the events beside it; clicking one jumps the player to that moment.
(function () {
  "use strict";

  var root = document.getElementById("player");
  var timeline = document.querySelector("[data-timeline]");
  var total = document.querySelector("[data-total-label]");
  var current = document.querySelector("[data-current-label]");
  var speed = document.querySelector('[data-control="speed"]');
  var skip = document.querySelector('[data-control="skip"]');
  var base = "/replays/data/" + encodeURIComponent(root.dataset.session);

  function clock(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var rest = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + rest : m + ":" + rest;
  }

  function getJSON(path) {
    return fetch(base + path, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) {
        return r.json().then(
          function (p) { throw new Error(p.detail || p.title || "HTTP " + r.status); },
          function () { throw new Error("HTTP " + r.status); }
        );
      }
      return r.json();
    });
  }

  function fail(message) {
    root.dataset.state = "error";
    root.textContent = "";
    var p = document.createElement("p");
    p.className = "alert tone-lose";
    p.setAttribute("role", "alert");
    p.textContent = "The recording could not be played: " + message;
    root.appendChild(p);
  }

  function label(event) {
    var props = event.properties || {};
    if (event.event === "$pageview") return "Page view " + (props.$pathname || props.$current_url || "");
    if (event.event === "$autocapture") {
      var text = props.$el_text ? " “" + props.$el_text + "”" : "";
      return (props.$event_type || "interaction") + text;
    }
    if (event.event === "$exception") return "Exception " + (props.$exception_message || "");
    return event.event;
  }

  function kind(event) {
    if (event.event === "$pageview") return "pageview";
    if (event.event === "$exception") return "error";
    return event.event.charAt(0) === "$" ? "auto" : "custom";
  }

  function buildTimeline(player, startTime, totalTime, events) {
    var items = [];
    events.forEach(function (event) {
      var offset = Math.min(Math.max(Date.parse(event.timestamp) - startTime, 0), totalTime);
      var li = document.createElement("li");
      li.className = "kind-" + kind(event);
      li.dataset.event = event.event;
      li.dataset.offset = String(offset);
      var button = document.createElement("button");
      button.type = "button";
      var at = document.createElement("span");
      at.className = "at";
      at.textContent = clock(offset);
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = label(event);
      name.title = event.event;
      button.append(at, name);
      button.addEventListener("click", function () {
        player.goto(offset, false);
        show(offset);
      });
      li.appendChild(button);
      timeline.appendChild(li);
      items.push(li);
    });
    document.querySelector("[data-timeline-empty]").hidden = items.length > 0;
    return items;
  }

  var items = [];
  function show(offset) {
    root.dataset.currentTime = String(Math.round(offset));
    current.textContent = clock(offset);
    var last = null;
    items.forEach(function (li) {
      if (Number(li.dataset.offset) <= offset) last = li;
      li.classList.remove("current");
    });
    if (last) last.classList.add("current");
  }

  Promise.all([getJSON("/snapshots"), getJSON("/events")])
    .then(function (results) {
      var events = results[0].events;
      if (events.length < 2) throw new Error("the recording has too few events to play");
      var Player = window.rrwebPlayer && (window.rrwebPlayer.default || window.rrwebPlayer);
      if (!Player) throw new Error("rrweb-player did not load");
      root.textContent = "";
      var width = Math.max(320, root.clientWidth);
      var player = new Player({
        target: root,
        props: {
          events: events,
          width: width,
          height: Math.round((width * 9) / 16),
          autoPlay: false,
          skipInactive: true,
          showController: true,
          speedOption: [1, 2, 4, 8],
        },
      });
      var meta = player.getReplayer().getMetaData();
      total.textContent = clock(meta.totalTime);
      root.dataset.totalTime = String(meta.totalTime);
      items = buildTimeline(player, meta.startTime, meta.totalTime, results[1].results);
      player.addEventListener("ui-update-current-time", function (e) { show(e.payload); });
      speed.addEventListener("change", function () { player.setSpeed(Number(speed.value)); });
      skip.addEventListener("change", function () { player.toggleSkipInactive(); });
      player.goto(0, false);
      show(0);
      root.dataset.state = "ready";
    })
    .catch(function (err) { fail(err.message); });
})();
