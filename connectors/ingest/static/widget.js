/*
 * cxpulse survey widget: one question (four smileys or a 0-10 scale), an optional comment,
 * posted to the ingest service that served this file. Embed it with a browser key:
 *
 *   <div id="cx-survey"></div>
 *   <script src="https://ingest.example.com/widget.js" async
 *           data-key="cxp_..." data-touchpoint="checkout" data-scale="smiley"
 *           data-target="#cx-survey" data-question="How was your checkout?"
 *           data-lang="vi" data-customer="(optional: your customer id)"></script>
 *
 * data-scale: smiley (default) | nps | csat.  data-comment="off" hides the comment box.
 * The container's data-cx-state goes ready -> sending -> sent (or failed), for your own styling.
 * An answer keeps its id across retries, so a retry is never counted twice.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var d = script.dataset;
  var endpoint = new URL("/v1/surveys/web", script.src).href;
  var scale = d.scale || "smiley";
  var vi = (d.lang || document.documentElement.lang || "").toLowerCase().indexOf("vi") === 0;
  var text = vi ? {
    question: "Bạn hài lòng với trải nghiệm hôm nay không?", comment: "Góp ý thêm (không bắt buộc)",
    send: "Gửi", thanks: "Cảm ơn bạn đã góp ý!", failed: "Chưa gửi được, vui lòng thử lại.",
    faces: ["Rất không hài lòng", "Không hài lòng", "Hài lòng", "Rất hài lòng"]
  } : {
    question: "How satisfied are you with your experience today?",
    comment: "Anything to add? (optional)", send: "Send", thanks: "Thank you for your feedback!",
    failed: "Could not send, please try again.",
    faces: ["Very unhappy", "Unhappy", "Happy", "Very happy"]
  };
  var choices = scale === "nps" ? range(0, 10) : scale === "csat" ? range(1, 5) : range(1, 4);
  var emoji = ["\uD83D\uDE1E", "\uD83D\uDE41", "\uD83D\uDE42", "\uD83D\uDE04"];

  function range(lo, hi) { var out = []; for (var i = lo; i <= hi; i++) { out.push(i); } return out; }

  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.append(c); });
    return node;
  }

  function mount() {
    var target = d.target ? document.querySelector(d.target) : null;
    var box = el("div", {"class": "cx-survey", "role": "form", "data-cx-state": "ready"});
    (target || document.body).appendChild(box);
    var chosen = null;
    var answerId = uuid();
    var sending = false;
    var sentScore = null; // the score answerId was last sent with
    var buttons = choices.map(function (score, i) {
      var label = scale === "smiley" ? text.faces[i] : String(score);
      var b = el("button", {"type": "button", "class": "cx-choice", "data-score": String(score),
                            "aria-label": label, "aria-pressed": "false"},
                 [scale === "smiley" ? emoji[i] : String(score)]);
      b.addEventListener("click", function () {
        if (sending || box.getAttribute("data-cx-state") === "sent") { return; }
        // A different score after a failed send is a different answer: it must not share the id
        // of one that may have landed.
        if (sentScore !== null && score !== sentScore) { answerId = uuid(); sentScore = null; }
        chosen = score;
        buttons.forEach(function (o) { o.setAttribute("aria-pressed", String(o === b)); });
        send.disabled = false;
      });
      return b;
    });
    var comment = el("textarea", {"class": "cx-comment", "maxlength": "2000", "rows": "3",
                                  "placeholder": text.comment, "aria-label": text.comment});
    var send = el("button", {"type": "button", "class": "cx-send"}, [text.send]);
    send.disabled = true;
    var status = el("p", {"class": "cx-status", "role": "status"});
    box.append(el("p", {"class": "cx-question"}, [d.question || text.question]),
               el("div", {"class": "cx-choices"}, buttons));
    if (d.comment !== "off") { box.append(comment); }
    box.append(send, status);

    send.addEventListener("click", function () {
      if (chosen === null || sending) { return; }
      sending = true;
      sentScore = chosen;
      send.disabled = true;
      box.setAttribute("data-cx-state", "sending");
      var answer = {id: answerId, touchpoint: d.touchpoint || "web", scale: scale, score: chosen,
                    page: location.pathname};
      if (comment.value.trim()) { answer.comment = comment.value.trim(); }
      if (d.customer) { answer.customer = d.customer; }
      if (d.lang) { answer.lang = d.lang; }
      post(answer, 0, function (ok) {
        sending = false;
        box.setAttribute("data-cx-state", ok ? "sent" : "failed");
        status.textContent = ok ? text.thanks : text.failed;
        if (ok) { box.querySelectorAll("button, textarea").forEach(function (n) { n.disabled = true; }); }
        else { send.disabled = false; }
      });
    });
  }

  // Network errors, 429 and 5xx are retried with backoff (1 s, 2 s, 4 s) under the same answer id.
  function post(answer, attempt, done) {
    fetch(endpoint, {method: "POST", mode: "cors", keepalive: true,
                     headers: {"Content-Type": "application/json", "X-Cx-Key": d.key || ""},
                     body: JSON.stringify(answer)})
      .then(function (r) {
        if (r.ok) { return done(true); }
        if ((r.status === 429 || r.status >= 500) && attempt < 3) { return retry(); }
        done(false);
      }, function () { if (attempt < 3) { retry(); } else { done(false); } });
    function retry() { setTimeout(function () { post(answer, attempt + 1, done); }, 1000 << attempt); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", mount); }
  else { mount(); }
})();
