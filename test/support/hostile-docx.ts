import { Document, Packer, Paragraph } from 'docx';
import JSZip from 'jszip';

/**
 * A real DOCX whose word/document.xml holds `paragraphs` empty paragraphs (`<w:p/>`), as in
 * issue 11: three million of them pack (DEFLATE) into a few dozen KB, unpack to 18 MB of XML, and
 * once took the embedded server to 4.5 GB of heap and down. Written by the `docx` package, then
 * repacked with jszip with [Content_Types].xml first, as Word writes it (the upload sniffer needs that).
 */
export async function emptyParagraphsDocx(paragraphs: number): Promise<Buffer> {
  const written = await JSZip.loadAsync(await Packer.toBuffer(new Document({ sections: [{ children: [new Paragraph('x')] }] })));
  const xml = await written.file('word/document.xml')!.async('string');
  const head = xml.slice(0, xml.indexOf('<w:body>') + '<w:body>'.length);
  const out = new JSZip();
  const names = Object.keys(written.files).filter((n) => !written.files[n]!.dir);
  for (const name of ['[Content_Types].xml', ...names.filter((n) => n !== '[Content_Types].xml')]) {
    const body = name === 'word/document.xml' ? `${head}${'<w:p/>'.repeat(paragraphs)}</w:body></w:document>` : await written.files[name]!.async('nodebuffer');
    out.file(name, body);
  }
  return out.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', compressionOptions: { level: 9 } });
}
