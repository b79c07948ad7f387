"use strict";
/* guardlist-web's import page: the picked address book file, checked
   (size, NUL bytes, UTF-8) and put in the form's text field, which is
   posted like any field; the server checks it all again. */
(function () {
  var file = document.getElementById("import-file");
  var book = document.getElementById("import-book");
  var box = document.getElementById("import-error");
  if (!file || !book || !box) {
    return;
  }
  var max = Number(file.getAttribute("data-max"));
  function refuse(text) {
    box.textContent = text + " Nothing was read into the form.";
    box.hidden = false;
    book.value = "";
    file.value = "";
  }
  file.addEventListener("change", function () {
    box.hidden = true;
    box.textContent = "";
    var f = file.files && file.files[0];
    if (!f) {
      return;
    }
    if (f.size > max) {
      refuse(f.name + " is larger than " + (max / 1048576) + " MB.");
      return;
    }
    var reader = new FileReader();
    reader.onload = function () {
      var bytes = new Uint8Array(reader.result);
      if (bytes.indexOf(0) >= 0) {
        refuse(f.name + " holds a NUL byte (a UTF-16 export?): save it as UTF-8 and pick it again.");
        return;
      }
      try {
        book.value = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch (e) {
        refuse(f.name + " is not UTF-8 text (a Latin-1 or Windows export?): save it as UTF-8 and pick it again.");
      }
    };
    reader.onerror = function () {
      refuse(f.name + " could not be read.");
    };
    reader.readAsArrayBuffer(f);
  });
}());
