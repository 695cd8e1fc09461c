// The staff reward form: show the fields of the chosen kind only, and a preview
// of a newly chosen image. Without this script every field shows, each saying
// which kind uses it, and the image is seen after saving.
(function () {
  "use strict";
  var kind = document.getElementById("id_kind");
  var boxes = document.querySelectorAll(".reward-form [data-kinds]");

  function showKindFields() {
    if (!kind) return;
    boxes.forEach(function (box) {
      box.hidden = box.getAttribute("data-kinds").split(" ").indexOf(kind.value) === -1;
    });
  }

  if (kind) {
    kind.addEventListener("change", showKindFields);
    showKindFields();
  }

  var texts = {};
  var textsNode = document.getElementById("reward-form-texts");
  if (textsNode) texts = JSON.parse(textsNode.textContent);
  var input = document.getElementById("id_image");
  var preview = document.getElementById("reward-image-preview");
  var note = document.getElementById("reward-image-note");
  if (input && preview && note) {
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file || file.type.indexOf("image/") !== 0) return;
      if (preview.dataset.objectUrl) URL.revokeObjectURL(preview.dataset.objectUrl);
      var url = URL.createObjectURL(file);
      preview.dataset.objectUrl = url;
      preview.src = url;
      preview.alt = texts.alt || "";
      preview.hidden = false;
      note.textContent = texts.note || "";
      note.hidden = false;
    });
  }
})();
