// The ledger import with progress: the file goes up by XHR (a bar for the bytes sent), then the import's
// result (lines and lines per second) or its refusal line by line, put in place of the page's result.
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form || typeof XMLHttpRequest === "undefined" || typeof FormData === "undefined") { return; }
  var box = document.getElementById("import-progress");
  var bar = document.getElementById("import-bar");
  var status = document.getElementById("import-status");
  var result = document.getElementById("import-result");
  var button = form.querySelector("button[type=submit]");
  function megabytes(n) { return (n / 1048576).toFixed(2) + " MB"; }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var xhr = new XMLHttpRequest();
    var started = Date.now();
    box.hidden = false;
    bar.value = 0;
    bar.max = 100;
    status.textContent = "正在上传……";
    result.innerHTML = "";
    button.disabled = true;
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      bar.max = e.total;
      bar.value = e.loaded;
      status.textContent = "已上传 " + megabytes(e.loaded) + " / " + megabytes(e.total) +
        "（" + Math.floor(100 * e.loaded / e.total) + "%）";
    });
    xhr.upload.addEventListener("load", function () {
      bar.value = bar.max;
      status.textContent = "上传完成，正在导入……";
      box.setAttribute("data-phase", "importing");
    });
    xhr.addEventListener("load", function () {
      button.disabled = false;
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
      if (answer === null) {
        if (xhr.responseURL && xhr.responseURL.indexOf("/login") !== -1) {
          // The session ended on the way: the login page came back.
          window.location.assign("/login?expired=1");
          return;
        }
        // A refusal before the import (too large, the form expired): a page for people, not JSON.
        box.setAttribute("data-phase", "failed");
        status.textContent = xhr.status === 413
          ? "文件太大（上限 32 MB），未导入"
          : "未导入（HTTP " + xhr.status + "）：请刷新页面后重试";
        return;
      }
      result.innerHTML = answer.html;
      box.setAttribute("data-phase", answer.ok ? "done" : "refused");
      status.textContent = answer.ok
        ? "完成：共 " + answer.lines + " 行，每秒 " + Math.round(answer.lines_per_second) + " 行" +
          "（含上传共 " + ((Date.now() - started) / 1000).toFixed(1) + " 秒）"
        : "未导入，见下方原因";
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      box.setAttribute("data-phase", "failed");
      status.textContent = "上传失败：网络中断或服务不可达，请重试";
    });
    xhr.open("POST", form.getAttribute("action"));
    xhr.setRequestHeader("X-Kaohe-Upload", "1");
    xhr.send(new FormData(form));
  });
})();
